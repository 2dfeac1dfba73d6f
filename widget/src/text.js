// The widget's own words; the survey's question and labels come from the server.

const TEXTS = {
  en: {
    region: 'Feedback',
    close: 'Close',
    optional: '(optional)',
    send: 'Send',
    thanks: 'Thank you for your feedback!',
    paused: 'We are not collecting feedback right now. Thank you all the same!',
  },
  de: {
    region: 'Feedback',
    close: 'Schließen',
    optional: '(optional)',
    send: 'Senden',
    thanks: 'Vielen Dank für Ihr Feedback!',
    paused: 'Wir sammeln gerade kein Feedback. Trotzdem vielen Dank!',
  },
};

export const textsFor = (language) => TEXTS[language] || TEXTS.en;
