// Why the server said not to ask, told once to the site's developer in the
// console: a warning, never an error and never anything on the visitor's
// screen. The config is loaded once per page view, so this runs at most once.
// The reason is the server's code (budget_exhausted, inactive); a refused
// origin, the usual surprise while setting up, says where to allow it.

export function explain(config) {
  if (config && !config.show) {
    const reason = config.reason;
    const origin = location.origin;
    console.warn(
      'nps-beacon: ' +
        (reason == 'origin_not_allowed'
          ? `this survey does not accept answers from ${origin} ` +
            "(allowed origins are set in the survey's settings)"
          : `not shown on ${origin}: ${reason}`),
    );
  }
}
