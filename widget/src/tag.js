// Finds the widget's own <script> tag and what it says.

export function findTag() {
  const el = document.currentScript || document.querySelector('script[data-survey]');
  const key = el?.dataset.survey;
  if (!key || !el.src) return null;
  return {
    key,
    // Relative to the script, so a server mounted under a path prefix works too.
    api: (path) => new URL('api/v1/' + path, el.src).href,
    manual: el.dataset.trigger == 'manual',
  };
}

// The page's language decides the survey language only when the survey has none.
export function pageLanguage() {
  return document.documentElement.lang || navigator.language || '';
}
