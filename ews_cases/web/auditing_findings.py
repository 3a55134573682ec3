"""What a verification against held checkpoints found, in German for the auditor's page (the command line
writes the same in English, `audit.log_report.lines`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ews_cases.audit.anchors import GIVEN, AnchorProblem
from ews_cases.audit.chain import Break
from ews_cases.audit.log_report import Report
from ews_cases.audit.log_verify import Difference, LeafEvent, LogProblem
from ews_cases.i18n.translate import N_, _

#: The label `audit.log_report.verify` gets for the pasted or uploaded text.
HELD_LABEL = "held checkpoint"

LOG_PROBLEMS = {
    "leaf_differs": N_(
        "{leaf}: Der gespeicherte Hash dieses Eintrags passt nicht zum Inhalt des Ereignisses."
    ),
    "event_missing": N_("{leaf}: Das Ereignis fehlt in der Datenbank."),
    "event_unreadable": N_("{leaf}: Das Ereignis lässt sich nicht als kanonisches JSON schreiben."),
    "leaf_missing": N_("{leaf}: Der gespeicherte Hash dieses Eintrags fehlt."),
    "leaf_gap": N_("Im Protokoll fehlen Einträge ab {leaf}."),
    "size_mismatch": N_(
        "Der Stand des Protokolls nennt eine andere Zahl von Einträgen, als gespeichert sind."
    ),
    "root_mismatch": N_("Der gespeicherte Wurzel-Hash des Protokolls passt nicht zu den Ereignissen."),
    "not_in_log": N_("Ein Ereignis fehlt im Protokoll, obwohl spätere Ereignisse aufgenommen wurden."),
    "no_state": N_("Der Stand des Protokolls (audit_log_state) fehlt."),
    "more": N_("Weitere Befunde derselben Art sind nicht einzeln aufgeführt."),
}
CHECKPOINT_PROBLEMS = {
    "unreadable": N_(
        "{label}: Das ist kein lesbarer signierter Prüfpunkt (erwartet: drei Zeilen, eine Leerzeile, Signaturzeilen)."
    ),
    "unsigned": N_(
        "{label}: Keine Signatur eines bekannten Schlüssels ist gültig (signiert von {value}). Stammt er aus einem "
        "anderen Protokoll, oder wurde der Schlüssel des Protokolls ersetzt?"
    ),
    "bad_signature": N_("{label}: Die Signatur von {value} ist ungültig – der Prüfpunkt wurde verändert."),
    "origin": N_("{label}: Der Prüfpunkt gehört zu einem anderen Protokoll ({value})."),
    "beyond_log": N_(
        "{label}: Er umfasst {size} Einträge, das Protokoll hat nur {leaves}. Es wurde gekürzt oder ersetzt."
    ),
    "root_differs": N_(
        "{label}: Die ersten {size} Einträge des Protokolls haben nicht mehr den Hash, den er signiert. Das "
        "Protokoll wurde seither verändert."
    ),
    "unproven": N_(
        "{label}: Die Ereignisse stimmen mit ihm überein, die gespeicherten Knoten des Protokolls beweisen es aber "
        "nicht (Konsistenzbeweis ungültig)."
    ),
}


@dataclass
class Verdict:
    """The page's answer: whether the log is consistent with every held checkpoint, and what else was found."""

    consistent: bool
    held: list[str] = field(default_factory=list)  # each held checkpoint that is consistent
    problems: list[str] = field(default_factory=list)  # about the held checkpoints
    findings: list[str] = field(default_factory=list)  # about the rest of the log
    difference: str | None = None
    first_break: Break | None = None
    keys: str = ""


def verdict(report: Report) -> Verdict:
    held = [check for check in report.log.anchors if check.anchor.held]
    result = Verdict(consistent=report.held_ok, keys=_keys(report))
    for check in held:
        if check.problem is None:
            signers = ", ".join(check.anchor.signers)
            result.held.append(
                _(
                    "{label}: {size} Einträge, signiert von {signers} – das heutige Protokoll setzt ihn "
                    "unverändert fort.",
                    label=_label(check.anchor.label),
                    size=check.anchor.size,
                    signers=signers,
                )
            )
        else:
            result.problems.append(_anchor_problem(check.problem, report))
    result.problems.extend(_checkpoint_problem(p, report) for p in report.held.problems)
    result.findings.extend(_log_problem(p) for p in report.log.problems)
    result.findings.extend(_checkpoint_problem(p, report) for p in report.stored.problems)
    result.findings.extend(
        _anchor_problem(c.problem, report) for c in report.log.anchors if c.problem and not c.anchor.held
    )
    if report.log.difference is not None:
        result.difference = _difference(report.log.difference)
    result.first_break = report.chains.breaks[0] if report.chains.breaks else None
    return result


def _keys(report: Report) -> str:
    names = ", ".join(f"{key.name}+{key.key_id_hex}" for key in report.keys.keys) or "–"
    if report.keys.source == GIVEN:
        return _("Geprüft mit Ihren Schlüsseln: {keys}.", keys=names)
    return _(
        "Geprüft mit den veröffentlichten Schlüsseln dieser Installation: {keys}. Vergleichen Sie die "
        "Schlüssel-IDs mit einem Schlüssel, den Sie aufbewahren, oder geben Sie Ihren an.",
        keys=names,
    )


def _label(label: str) -> str:
    if label.startswith(HELD_LABEL):
        return _("Ihr Prüfpunkt") + label.removeprefix(HELD_LABEL)
    found = re.match(r"checkpoint (\d+) in the database", label)
    return _("Prüfpunkt {id} in der Datenbank", id=found.group(1)) if found else label


def _checkpoint_problem(problem: AnchorProblem, report: Report) -> str:
    return _(CHECKPOINT_PROBLEMS[problem.code], label=_label(problem.label), value=problem.value)


def _anchor_problem(problem: LogProblem, report: Report) -> str:
    anchor = problem.anchor
    label, size = (_label(anchor.label), anchor.size) if anchor is not None else ("", 0)
    return _(CHECKPOINT_PROBLEMS[problem.code], label=label, size=size, leaves=report.log.leaves, value="")


def _log_problem(problem: LogProblem) -> str:
    leaf = _leaf(problem.leaf) if problem.leaf is not None else ""
    return _(LOG_PROBLEMS.get(problem.code, problem.detail), leaf=leaf)


def _event(leaf: LeafEvent) -> str:
    if leaf.sequence is None:
        return _("kein Ereignis")
    if leaf.chain is None:
        return _("Ereignis {sequence}", sequence=leaf.sequence)
    return _(
        "Ereignis {sequence} (Kette {chain}, Position {position})",
        sequence=leaf.sequence,
        chain=leaf.chain,
        position=leaf.position,
    )


def _leaf(leaf: LeafEvent) -> str:
    return _("Eintrag {leaf} – {event}", leaf=leaf.leaf, event=_event(leaf))


def _difference(difference: Difference) -> str:
    first, last = difference.first, difference.last
    if difference.cut:
        return _(
            "Das Protokoll endet vor Eintrag {leaf}; die Einträge bis {last} fehlen.",
            leaf=first.leaf,
            last=last.leaf,
        )
    if not difference.bounded:
        return _("Erste Abweichung: {leaf}.", leaf=_leaf(first))
    if difference.exact:
        return _(
            "Erste Abweichung: Eintrag {leaf}. Dort steht jetzt {event}, nicht das Ereignis, das die "
            "Prüfpunkte signiert haben.",
            leaf=first.leaf,
            event=_event(first),
        )
    return _(
        "Die erste Abweichung liegt zwischen Eintrag {first} (jetzt {first_event}) und Eintrag {last} (jetzt "
        "{last_event}); genauer lässt sie sich nur mit weiteren Prüfpunkten eingrenzen.",
        first=first.leaf,
        first_event=_event(first),
        last=last.leaf,
        last_event=_event(last),
    )
