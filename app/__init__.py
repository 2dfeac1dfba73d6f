"""nps-beacon: NPS, CSAT and CES feedback with a submission-time monthly budget."""
