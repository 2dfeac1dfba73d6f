// The widget's own words; the survey's question and labels come from the server.

const TEXTS = {
  en: {
    region: 'Feedback',
    close: 'Close',
    optional: '(optional)',
    send: 'Send',
    thanks: 'Thank you for your feedback!',
    review: 'Write a review',
    paused: 'We are not collecting feedback right now.',
  },
  de: {
    region: 'Feedback',
    close: 'Schließen',
    optional: '(optional)',
    send: 'Senden',
    thanks: 'Vielen Dank für Ihr Feedback!',
    review: 'Bewertung schreiben',
    paused: 'Wir sammeln gerade kein Feedback.',
  },
};

export const textsFor = (language) => TEXTS[language] || TEXTS.en;
