# ruff: noqa: E501 (prose: one paragraph a line)
"""The default wording of each notice, per language. A tenant's insider manager may replace it
(``AcknowledgementLinks.set_notice``); the default applies to every language they did not."""

from __future__ import annotations

PDMR_OBLIGATIONS = "pdmr-obligations"
INSIDER_OBLIGATIONS = "insider-obligations"
PURPOSES = (PDMR_OBLIGATIONS, INSIDER_OBLIGATIONS)
# A link that opens a form instead of a notice: an insider fills in their own personal details.
INSIDER_DETAILS = "insider-details"
FORM_PURPOSES = (INSIDER_DETAILS,)
LANGUAGES = ("en", "sv")
MAX_NOTICE = 20_000

DEFAULTS: dict[tuple[str, str], str] = {
    (PDMR_OBLIGATIONS, "en"): """\
You are registered as a person discharging managerial responsibilities (PDMR) of the issuer, or as a person closely associated with one, under Article 19 of the Market Abuse Regulation (EU) No 596/2014.

Your obligations:
1. Notify the issuer and the competent authority of every transaction conducted on your own account relating to the issuer's shares or debt instruments, or to derivatives or other financial instruments linked to them, promptly and no later than three business days after the transaction, once the total of your transactions reaches EUR 20 000 within a calendar year.
2. As a PDMR, do not conduct such transactions, on your own account or for a third party, during a closed period of 30 calendar days before the announcement of an interim financial report or a year-end report, unless the issuer permits it under Article 19(12).
3. As a PDMR, notify the persons closely associated with you in writing of their obligations under Article 19 and keep a copy of that notification.

Sanctions: a breach of these obligations may lead to administrative fines and other administrative measures (Article 30 MAR; for natural persons fines of up to EUR 500 000 for breaches of Article 19) and, where inside information is used, to criminal sanctions for insider dealing under national law and Directive 2014/57/EU.
""",
    (PDMR_OBLIGATIONS, "sv"): """\
Du är registrerad som person i ledande ställning hos emittenten, eller som person som är nära associerad med en sådan person, enligt artikel 19 i marknadsmissbruksförordningen (EU) nr 596/2014.

Dina skyldigheter:
1. Anmäl till emittenten och den behöriga myndigheten varje transaktion för egen räkning som avser emittentens aktier eller skuldinstrument, eller derivat eller andra finansiella instrument kopplade till dem, utan dröjsmål och senast tre arbetsdagar efter transaktionen, när dina transaktioner sammanlagt uppgår till 20 000 euro under ett kalenderår.
2. Som person i ledande ställning får du inte genomföra sådana transaktioner, för egen eller annans räkning, under en stängd period om 30 kalenderdagar före offentliggörandet av en delårsrapport eller en bokslutskommuniké, om inte emittenten tillåter det enligt artikel 19.12.
3. Som person i ledande ställning ska du skriftligen underrätta personer som är nära associerade med dig om deras skyldigheter enligt artikel 19 och spara en kopia av underrättelsen.

Sanktioner: överträdelser kan leda till administrativa sanktionsavgifter och andra administrativa åtgärder (artikel 30; för fysiska personer upp till 500 000 euro vid överträdelse av artikel 19) och, om insiderinformation utnyttjas, till straffrättsliga påföljder för insiderhandel enligt nationell lag och direktiv 2014/57/EU.
""",
    (INSIDER_OBLIGATIONS, "en"): """\
You have been entered on the issuer's insider list under Article 18 of the Market Abuse Regulation (EU) No 596/2014 because you have access to inside information.

Your duties: do not deal, or try to deal, in the issuer's financial instruments on the basis of inside information; do not recommend or induce anyone else to do so; do not disclose the inside information to anyone except in the normal exercise of your employment, profession or duties (Articles 8, 10 and 14).

Sanctions: insider dealing and unlawful disclosure of inside information may lead to administrative fines and measures (Article 30) and to criminal sanctions under national law and Directive 2014/57/EU.
""",
    (INSIDER_OBLIGATIONS, "sv"): """\
Du har förts in i emittentens insiderförteckning enligt artikel 18 i marknadsmissbruksförordningen (EU) nr 596/2014 eftersom du har tillgång till insiderinformation.

Dina skyldigheter: handla inte, och försök inte handla, i emittentens finansiella instrument på grundval av insiderinformation; rekommendera eller förmå inte någon annan att göra det; röj inte insiderinformationen för någon utom som ett normalt led i din anställning, ditt yrke eller dina uppdrag (artiklarna 8, 10 och 14).

Sanktioner: insiderhandel och olagligt röjande av insiderinformation kan leda till administrativa sanktionsavgifter och åtgärder (artikel 30) och till straffrättsliga påföljder enligt nationell lag och direktiv 2014/57/EU.
""",
}


def default_notice(purpose: str, language: str) -> str:
    return DEFAULTS.get((purpose, language)) or DEFAULTS[(purpose, "en")]
