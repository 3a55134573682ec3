"""The German words of the audit trail, in one place: every action, every data field, the coded values.

The auditor's pages never show an action code or a data key; they show these labels (msgids, translated
when shown). `tests/web/test_auditing_labels.py` walks every action the code base can write and every key
the events carry and fails when one has no label here.
"""

from __future__ import annotations

from ews_cases.i18n.translate import N_
from ews_cases.web.layout import ROLE_LABELS
from ews_cases.web.office import PROJECT_LABELS
from ews_cases.web.office_forms import ATTENDANCE_LABELS, SESSION_KIND_LABELS
from ews_cases.web.review_forms import CRITERION_LABELS
from workflows import STATE_LABELS, guards

#: What happened, as the headline of an event (a past participle or a noun).
ACTION_LABELS: dict[str, str] = {
    "case.created": N_("Bewerbung angelegt"),
    "case.updated": N_("Bewerbung bearbeitet"),
    "transition.submit": N_("Bewerbung eingereicht"),
    "transition.return_for_revision": N_("Zur Überarbeitung zurückgegeben"),
    "transition.review": N_("Begutachtung abgeschlossen"),
    "transition.admit": N_("Zugelassen"),
    "transition.waitlist": N_("Auf die Warteliste gesetzt"),
    "transition.reject": N_("Abgelehnt"),
    "transition.withdraw": N_("Bewerbung zurückgezogen"),
    "transition.start": N_("Teilnahme begonnen"),
    "transition.drop_out": N_("Ausscheiden vermerkt"),
    "transition.complete_project": N_("Praxisprojekt abgeschlossen"),
    "transition.certify": N_("Zertifiziert"),
    "review.recorded": N_("Gutachten abgegeben"),
    "attendance.recorded": N_("Anwesenheit erfasst"),
    "project.updated": N_("Praxisprojekt geändert"),
    "certificate.issued": N_("Zertifikat ausgestellt"),
    "certificate.revoked": N_("Zertifikat widerrufen"),
    "certificate.prepared": N_("Zertifikat für die Abschlussveranstaltung vorbereitet"),
    "certificate.released": N_("Zertifikat freigegeben"),
    "certificate.replaced": N_("Zertifikat ersetzt"),
    "cohort.certificates_released": N_("Zertifikate des Durchgangs vorzeitig freigegeben"),
    "email.delivered": N_("E-Mail zugestellt"),
    "email.failed": N_("E-Mail-Zustellung fehlgeschlagen"),
    "email.cancelled": N_("E-Mails verworfen"),
    "reminders.queued": N_("Fristerinnerungen vorgemerkt"),
    "cohort.created": N_("Durchgang angelegt"),
    "cohort.updated": N_("Durchgang geändert"),
    "session.created": N_("Termin angelegt"),
    "session.updated": N_("Termin geändert"),
    "session.cancelled": N_("Termin abgesagt"),
    "contact.created": N_("Kontakt angelegt"),
    "contact.opted_out": N_("Kontakt hat Erinnerungen abbestellt"),
    "contact.opted_in": N_("Kontakt erhält wieder Erinnerungen"),
    "user.created": N_("Konto angelegt"),
    "user.opted_out": N_("Erinnerungen abbestellt"),
    "user.opted_in": N_("Erinnerungen wieder bestellt"),
    "user.checkpoint_mail": N_("Prüfpunkte per E-Mail an- oder abbestellt"),
    "user.password_changed": N_("Passwort geändert"),
    "user.role_changed": N_("Rolle oder Zuordnung geändert"),
    "user.deactivated": N_("Zugang deaktiviert"),
    "user.reactivated": N_("Zugang reaktiviert"),
    "user.password_reset_requested": N_("Link zum Zurücksetzen des Passworts angefordert"),
    "user.password_reset": N_("Passwort zurückgesetzt"),
    "user.second_factor_enrolled": N_("Zweiten Faktor eingerichtet"),
    "user.second_factor_disabled": N_("Zweiten Faktor abgeschaltet"),
    "user.second_factor_reset": N_("Zweiten Faktor zurückgesetzt"),
    "user.recovery_code_used": N_("Wiederherstellungscode verwendet"),
    "user.recovery_codes_renewed": N_("Wiederherstellungscodes erneuert"),
    "token.created": N_("API-Token erstellt"),
    "token.revoked": N_("API-Token widerrufen"),
    "invitation.sent": N_("Einladung verschickt"),
    "invitation.accepted": N_("Einladung angenommen, Konto angelegt"),
    "invitation.expired": N_("Einladung abgelaufen"),
    "access_request.received": N_("Zugang beantragt"),
    "access_request.confirmed": N_("Zugangsanfrage bestätigt"),
    "access_request.declined": N_("Zugangsanfrage abgelehnt"),
    "accessibility.barrier_reported": N_("Barriere gemeldet"),
    "privacy.erased": N_("Personenbezogene Daten gelöscht"),
    "privacy.exported": N_("Auskunft über gespeicherte Daten erteilt"),
    "case.legal_hold_set": N_("Aufbewahrungssperre gesetzt"),
    "case.legal_hold_lifted": N_("Aufbewahrungssperre aufgehoben"),
    "audit.converted": N_("Prüfketten auf Prüfwerte für personenbezogene Daten umgestellt"),
}

#: Every key an event's `data` holds, and every key of `data.changes` (case content flattened:
#: `answers.goals`; team members as `team.<n>.<field>`, labelled with `MEMBER_FIELDS`).
FIELD_LABELS: dict[str, str] = {
    # transitions
    "transition": N_("Übergang"),
    "version": N_("Version"),
    "reason": N_("Begründung"),
    "subscribed": N_("Prüfpunkte per E-Mail"),
    "expires_at": N_("Gültig bis"),
    "remaining": N_("Verbleibende Codes"),
    "overridden": N_("Ausnahme zugelassen"),
    "emails": N_("E-Mails"),
    # cases (created: the whole content; updated: the changed fields)
    "reference": N_("Aktenzeichen"),
    "municipality": N_("Kommune"),
    "contact": N_("Ansprechperson"),
    "contact.name": N_("Ansprechperson: Name"),
    "contact.email": N_("Ansprechperson: E-Mail"),
    "contact.phone": N_("Ansprechperson: Telefon"),
    "contact.salutation": N_("Ansprechperson: Anrede"),
    "salutation": N_("Anrede"),
    "team": N_("Entwicklungsteam"),
    "answers": N_("Antworten"),
    "answers.motivation": N_("Motivation"),
    "answers.starting_point": N_("Ausgangslage"),
    "answers.goals": N_("Ziele"),
    "answers.leadership_support": N_("Unterstützung der Verwaltungsspitze"),
    "consent": N_("Einwilligung"),
    "changes": N_("Änderungen"),
    # reviews
    "review": N_("Gutachten-Nr."),
    "scores": N_("Bewertung"),
    "recommendation": N_("Empfehlung"),
    "comment": N_("Kommentar"),
    # attendance, practice project, certificates
    "session": N_("Termin"),
    "member": N_("Person"),
    "old": N_("vorher"),
    "new": N_("nachher"),
    "title": N_("Titel"),
    "summary": N_("Zusammenfassung"),
    "report": N_("Bericht"),
    "status": N_("Status"),
    "serial": N_("Seriennummer"),
    "holder": N_("Inhaberin oder Inhaber"),
    "replaces": N_("Ersetzt Zertifikat"),
    # emails and reminders
    "outbox": N_("Nachricht Nr."),
    "kind": N_("Art"),
    "to": N_("An"),
    "message_id": N_("Message-ID"),
    "attempts": N_("Zustellversuche"),
    "error": N_("Fehler"),
    "count": N_("Anzahl"),
    "offset_days": N_("Tage vor Fristende"),
    "scan_time": N_("Zeitpunkt der Prüfung"),
    # cohorts and their sessions
    "number": N_("Durchgang"),
    "region": N_("Aufruf beschränkt auf Regierungsbezirk"),
    "applications_open_at": N_("Bewerbungsphase beginnt"),
    "application_deadline": N_("Bewerbungsfrist"),
    "capacity": N_("Plätze (Standorte)"),
    "team_size": N_("Personen je Entwicklungsteam"),
    "starts_on": N_("Beginn"),
    "ends_on": N_("Ende"),
    "reminder_days": N_("Erinnerungen (Tage vor der Frist)"),
    "min_attendance": N_("Mindestanteil besuchter Workshops"),
    "required_reviews": N_("Nötige Gutachten je Bewerbung"),
    "ceremony_on": N_("Abschlussveranstaltung am"),
    "ceremony_place": N_("Ort der Abschlussveranstaltung"),
    "signatory_name": N_("Unterzeichnet von (Name)"),
    "signatory_title": N_("Unterzeichnet von (Funktion)"),
    "funding_eur": N_("Landesförderung in Euro"),
    "starts_at": N_("Beginn"),
    "ends_at": N_("Ende"),
    "location": N_("Ort"),
    "sequence": N_("Fassung des Termins"),
    # people, contacts, tokens
    "user": N_("Konto"),
    "email": N_("E-Mail"),
    "name": N_("Name"),
    "role": N_("Rolle"),
    "active": N_("Aktiv"),
    "at": N_("Zeitpunkt"),
    "token": N_("API-Token"),
    "invitation": N_("Einladung Nr."),
    "invitations": N_("Neue Einladungen"),
    "renewed": N_("Erneuert"),
    "access_request": N_("Anfrage Nr."),
    "position": N_("Funktion"),
    "page": N_("Seite oder Funktion"),
    "description": N_("Beschreibung"),
    # data protection
    "category": N_("Anlass"),
    "subject": N_("Betroffen"),
    "values": N_("Gelöschte Werte"),
    "cases": N_("Bewerbungen"),
    "kept": N_("Aufbewahrt (Bewerbung, Grund, bis)"),
    "chains": N_("Prüfketten (alter und neuer Endwert)"),
    "revision": N_("Migration"),
}
#: The fields of one team member (`team.<n>.<field>` in changes, items of `team` in a created case).
MEMBER_FIELDS: dict[str, str] = {
    "salutation": N_("Anrede"),
    "name": N_("Name"),
    "email": N_("E-Mail"),
    "position": N_("Funktion"),
}

#: The letters (`templates/mail/<kind>.txt`, the outbox's `kind`).
LETTER_LABELS: dict[str, str] = {
    "confirm_submission": N_("Eingangsbestätigung"),
    "explain_revision": N_("Rückgabe zur Überarbeitung"),
    "notify_coordinators_reviewed": N_("Hinweis an das Programmbüro: begutachtet"),
    "announce_admission": N_("Zulassung"),
    "announce_waitlist": N_("Mitteilung Warteliste"),
    "explain_rejection": N_("Ablehnung"),
    "confirm_withdrawal": N_("Bestätigung der Rücknahme"),
    "announce_free_place": N_("Hinweis an das Programmbüro: Platz frei"),
    "welcome_with_calendar": N_("Willkommen mit Terminkalender"),
    "explain_drop_out": N_("Mitteilung zum Ausscheiden"),
    "send_certificates": N_("Zertifikat"),
    "deadline_reminder": N_("Fristerinnerung"),
    "session_reminder": N_("Terminerinnerung"),
    "session_changed": N_("Geänderter oder abgesagter Termin"),
    "password_reset": N_("Link zum Zurücksetzen des Passworts"),
    "invitation": N_("Einladung"),
    "access_declined": N_("Ablehnung einer Zugangsanfrage"),
    "replace_certificate": N_("Korrigiertes Zertifikat"),
    "report_barrier": N_("Gemeldete Barriere"),
    "audit_checkpoint": N_("Neuer Prüfpunkt des Prüfprotokolls"),
}
#: Guards a coordinator may override with a reason (`overridden` of a transition).
GUARD_LABELS: dict[str, str] = {
    guards.within_region.code: N_("Regierungsbezirk der Ausschreibung"),
}
RECOMMENDATION_WORDS: dict[str, str] = {
    "admit": N_("zulassen"),
    "waitlist": N_("Warteliste"),
    "reject": N_("ablehnen"),
}
#: Whom an erasure concerned (`privacy.erased`'s `subject`).
ERASURE_SUBJECT_LABELS = {
    "case": N_("eine Bewerbung"),
    "person": N_("eine Person (alle Angaben zu einer Adresse)"),
}
#: The coded values of a field: the key's values → their labels.
#: Why personal data was erased (`services/retention.CATEGORIES` and erasure requests).
ERASURE_CATEGORY_LABELS = {
    "request": N_("Löschantrag"),
    "retention.unsuccessful_case": N_("Aufbewahrungsfrist abgelaufen: Bewerbung ohne Teilnahme"),
    "retention.participating_case": N_("Aufbewahrungsfrist abgelaufen: Teilnahme"),
    "retention.email_body": N_("Aufbewahrungsfrist abgelaufen: E-Mail-Inhalt"),
    "retention.opted_out_contact": N_("Kontakt hat sich abgemeldet"),
    "retention.inactive_account": N_("Aufbewahrungsfrist abgelaufen: inaktives Konto"),
}
#: Why an erasure request kept a case's data (`privacy.erased`'s `kept`).
KEPT_CATEGORY_LABELS = {
    "retention.participating_case": N_("Aufbewahrungsfrist läuft: Teilnahme (Förderprüfungen)"),
    "retention.unsuccessful_case": N_("Aufbewahrungsfrist läuft: Ablehnung (Widerspruch)"),
    "legal_hold": N_("Aufbewahrungssperre"),
}
VALUE_LABELS: dict[str, dict[str, str]] = {
    "erasure_category": ERASURE_CATEGORY_LABELS,
    "kept_category": KEPT_CATEGORY_LABELS,
    "erasure_subject": ERASURE_SUBJECT_LABELS,
    "recommendation": RECOMMENDATION_WORDS,
    "role": ROLE_LABELS,
    "status": PROJECT_LABELS,
    "attendance": ATTENDANCE_LABELS,
    "session_kind": SESSION_KIND_LABELS,
    "letter": LETTER_LABELS,
    "guard": GUARD_LABELS,
    "criterion": CRITERION_LABELS,
    "state": {state.value: label for state, label in STATE_LABELS.items()},
}

#: Who acted: a person's role, or the system.
ACTOR_ROLES: dict[str, str] = {**ROLE_LABELS, "system": N_("System")}
#: The system's tasks (`system:<task>` in the trail): "Begutachtung abgeschlossen (automatisch: Gutachteneingang)".
SYSTEM_TASKS: dict[str, str] = {
    "record_review": N_("Gutachteneingang"),
    "start_cohorts": N_("Beginn des Durchgangs"),
    "scan_reminders": N_("Erinnerungsdienst"),
    "deliver_outbox": N_("E-Mail-Versand"),
    "issue_certificates": N_("Zertifikatsausstellung"),
    "unsubscribe": N_("Abmeldelink"),
    "demo": N_("Demodaten"),
    "cli:users-create": N_("Befehl „ews users create“"),
    "cli:contacts-import": N_("Befehl „ews contacts import“"),
    "cli:users-invite": N_("Befehl „ews users invite“"),
    "expire_invitations": N_("Ablauf von Einladungen"),
    "access-request": N_("Zugangsanfrage (öffentliches Formular)"),
    "cli:audit-checkpoint-mail": N_("Befehl „ews audit checkpoint-mail“"),
}

#: German explanations of `audit.Break.problem`, by the start of the (English, technical) problem text.
PROBLEMS = (
    ("position ", N_("Position fehlt oder ist doppelt (Lücke oder Abzweigung der Kette).")),
    ("prev_hash ", N_("Der Verweis auf das vorige Ereignis (prev_hash) stimmt nicht.")),
    (
        "hash does not match",
        N_("Der Hash passt nicht zum Inhalt: Das Ereignis wurde nachträglich verändert."),
    ),
    ("event cannot be serialised", N_("Das Ereignis lässt sich nicht prüfen (ungültige Daten).")),
    ("events missing at the end", N_("Am Ende der Kette fehlen Ereignisse.")),
    ("chain has a head but no events", N_("Zur Kette sind keine Ereignisse mehr gespeichert.")),
    ("chain is not contiguous", N_("Die Kette ist nicht zusammenhängend gespeichert.")),
    (
        "personal value",
        N_("Ein personenbezogener Wert passt nicht mehr zu seinem Prüfwert oder fehlt: er wurde verändert."),
    ),
)
