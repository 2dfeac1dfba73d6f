// Picks black or white text for the survey colour: whichever contrasts more.
// One of the two always reaches at least 4.58:1, above the 4.5:1 of WCAG AA.
// A colour that is not #rrggbb falls back to the default blue.

function luminance(hex) {
  let sum = 0;
  for (let i = 0; i < 3; i++) {
    const c = parseInt(hex.substr(1 + 2 * i, 2), 16) / 255;
    const linear = c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    sum += [0.2126, 0.7152, 0.0722][i] * linear;
  }
  return sum;
}

export function palette(colour) {
  const bg = /^#[0-9a-f]{6}$/i.test(colour) ? colour : '#1f5fbf';
  const light = luminance(bg) + 0.05;
  // Contrast with white is 1.05 / light, with black light / 0.05.
  return { bg, fg: 1.05 / light >= light / 0.05 ? '#fff' : '#000' };
}
