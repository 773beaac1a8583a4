"""Urgency cues: phrases that make a ticket urgent whatever its tone, in en, de, es, fr and pt.

Each cue is one idea (an outage, lost data, a deadline...) written in every language we cover;
its name is what the explanation shows. The phrases are written by us from what support teams
treat as urgent, not lifted from any data set. Patterns accept missing accents ("caido",
"sesion") because tickets are often typed without them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CUES", "LANGUAGES", "Cue", "cue_score", "match_cues"]

#: Languages the cue phrases are written in.
LANGUAGES = ("en", "de", "es", "fr", "pt")


@dataclass(frozen=True)
class Cue:
    """A named pattern and how much evidence of urgency it is (0..1)."""

    name: str
    pattern: re.Pattern[str]
    weight: float


def _cue(name: str, weight: float, *phrases: str) -> Cue:
    """One cue from regex ``phrases`` (any language), each matched on word boundaries."""
    alternatives = "|".join(f"(?:{p})" for p in phrases)
    return Cue(name, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE), weight)


#: Cues written by us; weights are evidence of urgency in [0, 1].
CUES: tuple[Cue, ...] = (
    _cue(
        "outage",
        0.9,
        # en
        r"outage|down for everyone|(?:is|are|went|goes|has gone) (?:completely |totally )?down|"
        r"(?:site|platform|service|server|system|app|website|portal|api)s? (?:is |are )?(?:down|offline|"
        r"unreachable)|"
        r"service (?:is )?unavailable|not (?:working|loading|responding) (?:at all|for anyone|for anybody)|"
        r"(?:nobody|no one|no-one|none of (?:us|our \w+|the \w+)) (?:can|could|is able to|are able to)",
        # de
        r"ausgefallen|(?:total|komplett)?ausfall|nicht (?:mehr )?erreichbar|"
        r"funktioniert (?:gar )?nicht mehr|(?:niemand|keiner) kann|geht gar nichts mehr|steht still|"
        r"stillstand",
        # es
        r"ca[íi]d[oa]s?|se ha ca[íi]do|est[áa] ca[íi]do|fuera de servicio|fuera de l[íi]nea|"
        r"no funciona nada|"
        r"nadie puede|ning[úu]n (?:usuario|cliente) puede|interrupci[óo]n del servicio",
        # fr
        r"en panne|hors service|hors ligne|(?:est|sont) inaccessibles?|personne ne peut|"
        r"plus rien ne fonctionne|"
        r"interruption (?:de|du) service|panne g[ée]n[ée]rale",
        # pt
        r"fora do ar|caiu|est[áa] fora|fora de servi[çc]o|ningu[ée]m consegue|nada funciona|"
        r"indispon[íi]vel|interrup[çc][ãa]o do servi[çc]o",
    ),
    _cue(
        "production",
        0.9,
        r"(?:production|prod|live (?:site|system|environment))\W+(?:\w+\W+){0,6}?"
        r"(?:down|broken|fail\w*|stopped|crash\w*|outage)",
        r"produktion(?:ssystem)?\W+(?:\w+\W+){0,6}?(?:steht|ausgefallen|abgest(?:ü|ue)rzt|kaputt)",
        r"producci[óo]n\W+(?:\w+\W+){0,6}?(?:ca[íi]d[oa]|detenid[oa]|parad[oa]|fall\w*)",
        r"production\W+(?:\w+\W+){0,6}?(?:arr[êe]t[ée]e|en panne|bloqu[ée]e)",
        r"produ[çc][ãa]o\W+(?:\w+\W+){0,6}?(?:parad[oa]|caiu|fora do ar|falh\w*)",
    ),
    _cue(
        "data_loss",
        0.85,
        r"data (?:loss|lost)|we(?: have|'ve| just)? lost|"
        r"lost (?:all|our|my) (?:data|files|work|records|orders|emails)|(?:deleted|wiped|erased) (?:all|"
        r"everything)|"
        r"data (?:is|was|has been) (?:gone|deleted|wiped|erased)|corrupt\w*",
        r"datenverlust|daten (?:sind |wurden )?(?:verloren|gel(?:ö|oe)scht|weg)|(?:alle|unsere) daten",
        r"p[ée]rdida de (?:datos|informaci[óo]n)|(?:hemos|he) perdido|perdimos|datos (?:borrados|"
        r"eliminados|perdidos)",
        r"perte de donn[ée]es|(?:nous avons|j'ai) perdu|donn[ée]es (?:perdues|supprim[ée]es|effac[ée]es)",
        r"perda de dados|perdemos|(?:eu )?perdi|dados (?:apagados|perdidos|exclu[íi]dos)",
    ),
    _cue(
        "security",
        0.85,
        r"breach|hacked|compromised|unauthori[sz]ed (?:access|charge|login|transaction)s?|phishing|"
        r"leak(?:ed)?|"
        r"ransomware|malware|stolen|suspicious (?:login|activity|transaction)s?|vulnerabilit(?:y|ies)|"
        r"exploit(?:ed)?",
        r"sicherheitsvorfall|sicherheitsl(?:ü|ue)cke|gehackt|datenleck|datenpanne|"
        r"unbefugte[rn]? zugriff|schadsoftware",
        r"hackead[oa]|brecha de (?:seguridad|datos)|acceso no autorizado|vulnerabilidad|"
        r"filtraci[óo]n de datos",
        r"pirat[ée]|faille de s[ée]curit[ée]|violation de (?:donn[ée]es|s[ée]curit[ée])|"
        r"acc[èe]s non autoris[ée]|"
        r"fuite de donn[ée]es",
        r"hackead[oa]|invadid[oa]|viola[çc][ãa]o de (?:dados|seguran[çc]a)|acesso n[ãa]o autorizado|"
        r"vazamento de dados",
    ),
    _cue(
        "locked_out",
        0.6,
        r"(?:can ?not|can't|cannot|could not|couldn't|unable to|not able to) (?:log ?in|sign ?in|access|"
        r"login)|"
        r"(?:nobody|no one|no-one) can (?:log ?in|sign ?in|access|login)|locked out",
        r"(?:kann|k(?:ö|oe)nnen) (?:mich |uns )?nicht (?:mehr )?(?:anmelden|einloggen|zugreifen)|"
        r"kein zugriff|anmeldung (?:ist )?nicht m(?:ö|oe)glich|ausgesperrt|"
        r"niemand kann sich (?:mehr )?(?:anmelden|einloggen)",
        r"no (?:puedo|podemos|pueden) (?:iniciar sesi[óo]n|acceder|entrar|ingresar|conectarnos|conectarme)|"
        r"nadie puede (?:iniciar sesi[óo]n|acceder|entrar|ingresar)|sin acceso",
        r"impossible de (?:me |nous |se )?(?:connecter|acc[ée]der)|"
        r"(?:je ne peux|nous ne pouvons|ils ne peuvent) (?:pas|plus) (?:me |nous )?(?:connecter|"
        r"acc[ée]der)|"
        r"personne ne peut (?:se connecter|acc[ée]der)",
        r"(?:n[ãa]o (?:consigo|conseguimos|conseguem)|ningu[ée]m consegue) (?:entrar|acessar|"
        r"fazer login|logar)|"
        r"sem acesso",
    ),
    _cue(
        "blocking",
        0.55,
        r"blocking|blocked|blocker|stopped working|completely broken|crash(?:es|ed|ing)?|regression|"
        r"(?:hangs|freezes|deadlock\w*)|(?:fails|failed|won't|will not|does not|doesn't) (?:to )?start",
        r"blockiert|st(?:ö|oe)rung|abst(?:ü|ue)rz\w*|st(?:ü|ue)rzt (?:\w+ )?ab|h(?:ä|ae)ngt sich auf|"
        r"startet nicht( mehr)?",
        r"bloquead[oa]|bloqueante|se bloquea|se cuelga|no arranca|no inicia",
        r"bloqu[ée]s?|bloquant|plant[ée]|ne d[ée]marre (?:pas|plus)",
        r"bloquead[oa]|travad[oa]|trava|n[ãa]o inicia|parou de funcionar",
    ),
    _cue(
        "money",
        0.6,
        r"charged twice|double[- ]charged|overcharged|refund (?:now|immediately)|payroll|"
        r"(?:losing|lose|lost) (?:money|revenue|sales|customers|orders)|(?:can't|cannot|"
        r"unable to) (?:pay|checkout|invoice)",
        r"doppelt (?:abgebucht|belastet|berechnet)|gehaltsabrechnung|lohnabrechnung|umsatzverlust|"
        r"verlieren (?:geld|umsatz|kunden)",
        r"cobrado dos veces|cobro (?:duplicado|doble)|n[óo]mina|perdiendo (?:dinero|ventas|clientes)",
        r"factur[ée] deux fois|double (?:pr[ée]l[èe]vement|facturation)|(?:la )?paie|"
        r"perdons (?:de l'argent|des ventes|des clients)",
        r"cobrad[oa] duas vezes|cobran[çc]a (?:duplicada|em dobro)|folha de pagamento|"
        r"perdendo (?:dinheiro|vendas|clientes)",
    ),
    _cue(
        "legal_threat",
        0.7,
        r"lawyer|attorney|lawsuit|sue|legal action|court|cease and desist|small claims|regulator",
        r"anwalt|rechtliche schritte|klage|gericht|abmahnung",
        r"abogad[oa]|demanda|acciones legales|tribunal",
        r"avocat|poursuites|action en justice|tribunal|mise en demeure",
        r"advogad[oa]|processo judicial|a[çc][ãa]o judicial|justi[çc]a",
    ),
    _cue(
        "deadline",
        0.5,
        r"deadline|by (?:today|tomorrow|tonight|end of (?:the )?day|eod|noon|monday|tuesday|wednesday|"
        r"thursday|"
        r"friday)|within \d+ (?:hours|days)|in (?:\d+|two|three|a few) hours|expires? (?:today|tomorrow)|"
        r"time[- ]sensitive",
        r"frist|bis (?:heute|morgen|montag|dienstag|mittwoch|donnerstag|freitag)|"
        r"innerhalb von \d+ (?:stunden|tagen)",
        r"fecha l[íi]mite|plazo|para (?:hoy|ma[ñn]ana)|antes de (?:hoy|ma[ñn]ana|el lunes|el viernes)",
        r"date limite|[ée]ch[ée]ance|d[ée]lai|pour (?:aujourd'hui|demain)|avant (?:demain|ce soir|lundi|"
        r"vendredi)",
        r"prazo|para (?:hoje|amanh[ãa])|at[ée] (?:hoje|amanh[ãa])",
    ),
    _cue(
        "asap",
        0.65,
        r"asap|urgent(?:ly)?|immediately|right now|emergency|critical|as soon as possible|top priority|"
        r"high priority|sev(?:erity)? ?1|p1|showstopper",
        r"dringend\w*|eilig|sofort|umgehend|so schnell wie m(?:ö|oe)glich|notfall|kritisch\w*",
        r"urgente\w*|urgencia|lo antes posible|de inmediato|inmediatamente|emergencia|cr[íi]tic[oa]",
        r"urgent\w*|urgence|d[èe]s que possible|au plus vite|imm[ée]diatement|critique",
        r"urgente\w*|urg[êe]ncia|o mais r[áa]pido poss[íi]vel|imediatamente|emerg[êe]ncia|cr[íi]tic[oa]",
    ),
    _cue(
        "escalation",
        0.5,
        r"escalate|unacceptable|last warning|cancel(?:ling)? (?:my|our) (?:account|contract)",
        r"eskalier\w*|inakzeptabel|(?:k(?:ü|ue)ndigen|k(?:ü|ue)ndigung) (?:unseres |"
        r"meines )?(?:vertrag\w*|abo\w*)",
        r"inaceptable|escalar|cancelar (?:mi|nuestro) contrato",
        r"inacceptable|escalader|r[ée]silier (?:mon|notre) contrat",
        r"inaceit[áa]vel|escalar|cancelar (?:meu|nosso) contrato",
    ),
    _cue(
        "wide_impact",
        0.55,
        r"all (?:of )?(?:our|my) (?:customers|users|clients|staff|employees|stores|sites)|"
        r"(?:every|each) (?:customer|user)|entire (?:team|company|organi[sz]ation|office)|company-wide",
        r"alle (?:unsere[n]? )?(?:kunden|benutzer|nutzer|mitarbeiter(?:innen)?)|das ganze (?:team|"
        r"unternehmen)|"
        r"die gesamte firma",
        r"todos (?:nuestros |los )?(?:clientes|usuarios|empleados)|toda la (?:empresa|oficina)",
        r"tous (?:nos |les )?(?:clients|utilisateurs|employ[ée]s)|toute l'entreprise",
        r"todos os (?:nossos )?(?:clientes|usu[áa]rios|funcion[áa]rios)|toda a empresa",
    ),
)


def match_cues(text: str) -> list[Cue]:
    """Return the cues found in ``text``, strongest first."""
    found = [cue for cue in CUES if cue.pattern.search(text)]
    return sorted(found, key=lambda cue: cue.weight, reverse=True)


def cue_score(cues: list[Cue]) -> float:
    """Combine cue weights as independent evidence: 1 - Π(1 - w), in [0, 1]."""
    remaining = 1.0
    for cue in cues:
        remaining *= 1.0 - cue.weight
    return 1.0 - remaining
