// Tiny helpers for building the card without innerHTML.

// h('p', {class: 'q', text: 'Hi'}, child...): attributes are set as attributes,
// `text` becomes the text content (never parsed as HTML).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const name in attrs) {
    if (name == 'text') el.textContent = attrs[name];
    else el.setAttribute(name, attrs[name]);
  }
  el.append(...children);
  return el;
}

// Wraps an event handler so that nothing it does can throw into the page.
export const safe = (handler) => (event) => {
  try {
    handler(event);
  } catch (e) {
    // The widget gives up quietly rather than disturb the host page.
  }
};

// A radio or checkbox inside its label, the visible box beside it; the input
// is pushed onto `inputs`.
export function box(inputs, type, name, value, text) {
  const input = h('input', { type, name, value });
  inputs.push(input);
  return h('label', {}, input, h('span', { text }));
}
