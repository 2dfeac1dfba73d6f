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
    check: 'Not sent. Please check your answers.',
    retry: 'Not sent. Please try again.',
  },
  de: {
    region: 'Feedback',
    close: 'Schließen',
    optional: '(optional)',
    send: 'Senden',
    thanks: 'Vielen Dank für Ihr Feedback!',
    review: 'Bewertung schreiben',
    paused: 'Wir sammeln gerade kein Feedback.',
    check: 'Nicht gesendet. Bitte prüfen Sie Ihre Antworten.',
    retry: 'Nicht gesendet. Bitte versuchen Sie es erneut.',
  },
};

export const textsFor = (language) => TEXTS[language] || TEXTS.en;
