// Why the server said not to ask, told once to the site's developer in the
// console: a warning, never an error and never anything on the visitor's
// screen. The config is loaded once per page view, so this runs at most once.

const WHY = {
  origin_not_allowed: 'this survey does not accept answers from {} ' +
    "(allowed origins are set in the survey's settings)",
  budget_exhausted: "not shown on {}: this month's survey budget is used up",
  inactive: 'not shown on {}: the survey is switched off',
};

export function explain(config) {
  if (config && !config.show) {
    const why = WHY[config.reason] || 'not shown on {}: ' + config.reason;
    console.warn('nps-beacon: ' + why.replace('{}', location.origin));
  }
}
