"""The demo data (`ews demo`): historic cohorts 1–5, the open cohort 6, demo users."""
