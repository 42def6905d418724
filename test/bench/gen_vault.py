#!/usr/bin/env python3
"""Generate a deterministic people-and-meetings vault for quipu benchmarks.

    gen_vault.py --notes N --out DIR [--seed S] [--manifest FILE]

About 5% of the notes are person notes (People/<First Last>.md, 5-25 KB, in
the shape of spec/note-format.md: Key Facts, Recent Context with
"- DATE: Mentioned in: <meeting title>" lines, a ```tasks block, tags and
sometimes aliases); the rest are meeting notes in
Meetings/YYYY/YYYY-MM-DD <title>.md with attendees as quoted "[[Name]]"
links, a Summary naming people in plain text and as [[links]], and Action
Items in the Obsidian Tasks emoji format (about 2.6 per meeting, so 100k
notes hold about 250k tasks).

The same arguments always produce a byte-identical vault: every choice comes
from one random.Random(seed) drawn in a fixed order, and nothing depends on
the clock, the environment or dict/set iteration order of unordered data.

The manifest (JSON) tells the benchmark which names and notes to query: the
most-mentioned person, a meeting that links them, a due date that splits
the tasks, and counts.  It is written outside the vault so it never becomes
part of what quipu indexes.
"""

import argparse
import bisect
import datetime
import json
import os
import random
import shutil
import sys

FIRST = """Mara Omar Rob Jeff Priya Lena Tomas Aiko Nadia Felix Ines Jonas
Keiko Sven Amara Diego Hana Luca Noor Pavel Rosa Tariq Elif Bruno Yara Oskar
Mei Kofi Ada Ravi Sofia Malik Greta Hugo Leila Ivan Chloe Mateo Zara Anton
Freya Kenji Lucia Emeka Ingrid Samir Olga Dario Wanda Nils Paloma Idris Sanna
Viktor Beatriz Arjun Helga Marco Yusuf Clara Teodor Astrid Rafael Nia Joaquin
Liv Farid Milena Elias Tamsin Quentin Ayla Bastian Carmen Dmitri Esme Gideon
Hilde Imani Jasper Kalinda Lars Mirela Niko Odette Piet Rhea Stellan Thea
Ugo Vesna Wim Xenia Yannick Zofia""".split()

LAST = """Lindqvist Castell Kestrel Denworth Raman Okafor Varga Moreau Tanaka
Brandt Haddad Novak Silva Eriksen Ferreira Kowalski Nakamura Osei Petrov
Quintero Rossi Sandoval Takahashi Umarov Vasquez Weber Xu Yilmaz Zeller
Abbott Bianchi Carvalho Dufour Eklund Fontaine Gallagher Horvath Iversen
Jovanovic Karlsson Lombardi Mbeki Nieminen Olsen Pereira Quist Rasmussen
Schreiber Toivonen Ulrich Valdez Whitaker Yamamoto Zimmer Aldana Berglund
Cicero Dahl Ekwueme Falk Grau Holm Ibsen Janssen Kaur Lund Marsh Nyberg
Ortega Paz Reyes Strand Thorne Urquhart Vidal Wolff Yoon Zapata Achebe Boyd
Crane Drummond Ellery Finch Garrow Hale Ingram Jarvis Keane Lowell Mercer
Nash Orr Pike""".split()

COMPANIES = """Northwind Contoso Fabrikam Globex Initech Umbrella Hooli Vandelay
Stark Wayne Tyrell Cyberdyne Soylent Wonka Acme""".split()

TOPICS = [
    "support operating model for SaaS",
    "pricing narrative and storage cost calculator",
    "Distributed cloud RFP debrief and federal coordination (air-gapped focus)",
    "Cloud North Star and scope boundaries for FY26",
    "quarterly roadmap review: platform, data, and edge",
    "hiring plan for the solutions team",
    "incident retro (database failover, 2 regions)",
    "partner enablement: training, certification, and co-selling",
    "security questionnaire follow-up for the bank pilot",
    "customer advisory board prep",
    "migration plan from legacy archive tier",
    "GPU capacity forecast and allocation",
    "contract renewal: terms, discounts, and timing",
    "observability stack consolidation",
    "EMEA launch readiness",
    "SLO gates before GA",
    "org landscape and key role owners",
    "budget reforecast, H2",
    "data residency requirements (EU, UK)",
    "developer experience survey results",
    "backup and restore drill",
    "analyst briefing prep",
    "pilot success criteria and exit plan",
    "storage tiering design review",
    "competitive deal review: displacement strategy",
]

KINDS = ["1:1 with {p}", "{t}", "{t} sync", "{t} with {p}", "Weekly staff: {t}",
         "{c} account review", "{c}: {t}", "Debrief with {p} on {t}"]

VERBS = ["draft", "share", "confirm", "review", "send", "schedule", "update",
         "prepare", "follow up on", "summarise", "approve", "estimate"]
OBJECTS = ["the runbook", "the escalation matrix", "headcount", "the pricing sheet",
           "the RFP response", "the migration checklist", "the SLO dashboard",
           "the partner deck", "the security answers", "the capacity model",
           "the renewal terms", "the launch plan", "meeting notes", "the org chart",
           "the budget line items", "the pilot scorecard", "the design doc"]
FACTS = [
    "{a} reports to {b} at {c}.",
    "{a} shared a storage cost calculator to tune the pricing narrative.",
    "{a} owns the relationship with {c} procurement.",
    "{a} prefers written pre-reads before any review with {b}.",
    "{a} joined {c} from a hyperscaler, previously ran field engineering.",
    "{a} is the executive sponsor for the {c} pilot.",
    "{a} and {b} co-lead the platform council.",
    "{a} pushed back on the discount structure; wants value-based pricing.",
]
DECISIONS = [
    "Approve the staged crawl-walk-run plan and enforce SLO gates before GA.",
    "Keep the archive tier on the current vendor until the renewal.",
    "Move the weekly sync to a biweekly cadence.",
    "Fund two more solutions engineers in EMEA.",
    "Adopt a single observability stack across teams.",
]
TAGS = ["project/cloud", "project/pricing", "customer", "followup", "risk", "exec"]

PRIORITIES = [("", 60), ("⏫", 12), ("🔼", 12), ("🔽", 8), ("🔺", 4), ("⏬", 4)]
STATUSES = [(" ", 55), ("x", 30), ("/", 8), ("-", 7)]
TASK_COUNTS = [0, 1, 2, 2, 3, 3, 3, 4, 4, 4]  # mean 2.6 tasks per meeting

START_DATE = datetime.date(2022, 1, 3)
END_DATE = datetime.date(2026, 1, 30)


def weighted(rng, pairs):
    items = [p[0] for p in pairs]
    cum = []
    total = 0
    for p in pairs:
        total += p[1]
        cum.append(total)
    return rng.choices(items, cum_weights=cum)[0]


def make_people(rng, count):
    """count distinct 'First Last' names in a seeded order."""
    names = [f + " " + l for l in LAST for f in FIRST]
    if count > len(names):
        # Beyond the 9,700 plain combinations add a middle initial; stays unique.
        extra = []
        for m in "ABCDEFGHJKLMNPRSTVW":
            extra += [f + " " + m + ". " + l for l in LAST for f in FIRST]
        names += extra
    if count > len(names):
        raise SystemExit("gen_vault: too many people requested")
    rng.shuffle(names)
    return names[:count]


def file_safe(title):
    # Obsidian refuses * " \ / < > : | ? in file names; tools that write
    # meeting notes replace them, while the frontmatter title keeps them.
    out = []
    for ch in title:
        out.append("-" if ch in '*"\\/<>:|?' else ch)
    return "".join(out)


def yaml_dq(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plan(notes, seed):
    """Decide every note's content; returns (people, meetings)."""
    rng = random.Random(seed)
    n_people = max(4, round(notes * 0.05))
    n_meet = max(1, notes - n_people)
    people = make_people(rng, n_people)

    # Who is mentioned how often follows a Zipf-like curve: a few people show
    # up in many meetings (the ones whose panels are expensive), most in few.
    cumw = []
    acc = 0.0
    for i in range(n_people):
        acc += 1.0 / (i + 1) ** 0.6
        cumw.append(acc)

    def pick_person():
        return people[bisect.bisect_right(cumw, rng.random() * acc)]

    span = (END_DATE - START_DATE).days
    meetings = []
    used = set()
    for i in range(n_meet):
        # Dates rise with i, so meeting order is chronological and even.
        day = START_DATE + datetime.timedelta(days=(i * span) // n_meet)
        kind = rng.choice(KINDS)
        attendees = []
        # A 1:1 has two people; other meetings two to five.
        for _ in range(2 if kind.startswith("1:1") else rng.randint(2, 5)):
            p = pick_person()
            if p not in attendees:
                attendees.append(p)
        others = []
        for _ in range(rng.randint(1, 3)):
            p = pick_person()
            if p not in attendees and p not in others:
                others.append(p)
        topic = rng.choice(TOPICS)
        title = kind.format(p=attendees[-1], t=topic,
                                         c=rng.choice(COMPANIES))
        base = day.isoformat() + " " + file_safe(title)
        k = 2
        while base in used:
            base = "%s %s (%d)" % (day.isoformat(), file_safe(title), k)
            title2 = "%s (%d)" % (title, k)
            k += 1
        if k > 2:
            title = title2
        used.add(base)
        path = "Meetings/%d/%s.md" % (day.year, base)
        meetings.append({"path": path, "title": title, "date": day,
                         "attendees": attendees, "others": others,
                         "topic": topic, "rng": rng.getrandbits(64)})
    return rng, people, meetings


def render_meeting(m):
    r = random.Random(m["rng"])
    att, others = m["attendees"], m["others"]
    out = ["---", "type: meeting", "title: " + yaml_dq(m["title"]),
           "date: '%s'" % m["date"].isoformat(), "attendees:"]
    for a in att:
        out.append('- "[[%s]]"' % a)
    out += ["tags:", "- type/meeting"]
    if r.random() < 0.3:
        out.append("- " + r.choice(TAGS))
    out += ["---", "", "# " + m["title"], "", "## Summary"]
    # Plain-text first names, full names and [[links]] mixed as in real notes.
    lead = att[0].split(" ")[0]
    link2 = "[[%s]]" % att[1] if len(att) > 1 and r.random() < 0.6 else (
        att[1] if len(att) > 1 else att[0])
    s = "%s and %s discussed %s" % (lead, link2, m["topic"])
    if others:
        o = others[0]
        s += "; %s wants a monthly review." % (
            "[[%s]]" % o if r.random() < 0.35 else o)
    else:
        s += "."
    out.append(s)
    for o in others[1:]:
        out.append("%s raised concerns about %s." % (o, r.choice(OBJECTS)))
    for _ in range(r.randint(1, 4)):
        out.append("We went over %s, %s and the next steps; owners agreed on dates."
                   % (r.choice(OBJECTS), r.choice(OBJECTS)))
    out += ["", "## Action Items"]
    names = att + others
    for _ in range(r.choice(TASK_COUNTS)):
        st = weighted(r, STATUSES)
        who = r.choice(names)
        if r.random() < 0.3:
            who = "[[%s]]" % who
        line = "- [%s] %s to %s %s" % (st, who, r.choice(VERBS), r.choice(OBJECTS))
        if r.random() < 0.1:
            line += " #" + r.choice(TAGS)
        if r.random() < 0.05:
            line += " 🔁 every week"
        if r.random() < 0.3:
            line += " ➕ " + m["date"].isoformat()
        if r.random() < 0.15:
            line += " 🛫 " + (m["date"] + datetime.timedelta(days=1)).isoformat()
        if r.random() < 0.2:
            line += " ⏳ " + (m["date"] + datetime.timedelta(days=r.randint(1, 7))).isoformat()
        if r.random() < 0.7:
            line += " 📅 " + (m["date"] + datetime.timedelta(days=r.randint(2, 30))).isoformat()
        pr = weighted(r, PRIORITIES)
        if pr:
            line += " " + pr
        if st == "x":
            line += " ✅ " + (m["date"] + datetime.timedelta(days=r.randint(0, 20))).isoformat()
        elif st == "-":
            line += " ❌ " + (m["date"] + datetime.timedelta(days=r.randint(0, 20))).isoformat()
        out.append(line)
    out.append("")
    return "\n".join(out)


def render_person(rng, name, people, mentions):
    """mentions: list of (date, title, attended) oldest first."""
    target = rng.randint(5 * 1024, 25 * 1024)
    company = rng.choice(COMPANIES)
    last = mentions[-1][0].isoformat() if mentions else "2025-11-03"
    out = ["---", "type: person", "name: " + name, "email: ''",
           "company: %s" % ("''" if rng.random() < 0.5 else company),
           "title: ''", "last_contact: '%s'" % last, "created: '2026-01-05'"]
    if rng.random() < 0.3:
        out += ["aliases:", "- " + yaml_dq(name.split(" ")[0] + " " + name.split(" ")[-1][0] + ".")]
    out += ["tags:", "- type/person"]
    if rng.random() < 0.4:
        out.append("- needs-review")
    out += ["---", "", "# " + name, "", "## Key Facts", ""]
    size = sum(len(x) + 1 for x in out)
    for _ in range(rng.randint(2, 5)):
        f = rng.choice(FACTS).format(a=name, b=rng.choice(people), c=company)
        out += ["- " + f, ""]
    out += ["## Recent Context", ""]
    # Newest first, as tools append them; tools also miss some meetings (so
    # `mentions` reports missing ones) and keep a few stale titles.
    recent = []
    for d, title, attended in reversed(mentions):
        if rng.random() < 0.08:
            continue
        if attended and rng.random() < 0.4:
            recent.append("- %s: %s and %s reviewed %s, clarified owners, and alig..."
                          % (d.isoformat(), name.split(" ")[0], rng.choice(people),
                             rng.choice(TOPICS)))
        else:
            recent.append("- %s: Mentioned in: %s" % (d.isoformat(), title))
    if rng.random() < 0.2:
        recent.append("- 2021-06-01: Mentioned in: Kickoff that was renamed later")
    tail = ["## Tasks", "", "```tasks", "path includes " + name, "not done", "```", "",
            "## Topics", ""]
    for t in rng.sample(TOPICS, 3):
        tail += ["- " + t, ""]
    tail += ["## Key Decisions", ""]
    for d in rng.sample(DECISIONS, 2):
        tail += ["- " + d, ""]
    size = sum(len(x.encode()) + 1 for x in out + tail)
    body = []
    for line in recent:
        # Keep inside 25 KB: the oldest context is what tools trim first.
        if size + len(line.encode()) + 2 > 25 * 1024:
            break
        body += [line, ""]
        size += len(line.encode()) + 2
    # Pad short notes with background notes up to their target size.
    pad = []
    while size < target:
        line = "- %s met %s about %s; next step: %s %s." % (
            name.split(" ")[0], rng.choice(people), rng.choice(TOPICS),
            rng.choice(VERBS), rng.choice(OBJECTS))
        pad += [line, ""]
        size += len(line.encode()) + 2
    out += body
    if pad:
        out += ["## Background", ""] + pad
    out += tail
    return "\n".join(out)


def generate(notes, out_dir, seed=1, write=True):
    """Write the vault (unless write=False) and return the manifest."""
    rng, people, meetings = plan(notes, seed)
    mentions = {p: [] for p in people}
    links_to = {p: 0 for p in people}
    for m in meetings:
        for p in m["attendees"]:
            mentions[p].append((m["date"], m["title"], True))
            links_to[p] += 1
        for p in m["others"]:
            mentions[p].append((m["date"], m["title"], False))

    if write:
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(os.path.join(out_dir, "People"))
        made = set()
    tasks = 0
    vault_bytes = 0
    for m in meetings:
        text = render_meeting(m)
        tasks += text.count("\n- [")
        data = text.encode()
        vault_bytes += len(data)
        if write:
            d = os.path.dirname(m["path"])
            if d not in made:
                os.makedirs(os.path.join(out_dir, d), exist_ok=True)
                made.add(d)
            with open(os.path.join(out_dir, m["path"]), "wb") as f:
                f.write(data)
    for p in people:
        data = render_person(rng, p, people, mentions[p]).encode()
        vault_bytes += len(data)
        if write:
            with open(os.path.join(out_dir, "People", p + ".md"), "wb") as f:
                f.write(data)

    ranked = sorted(people, key=lambda p: (links_to[p], p))
    top = ranked[-1]
    # The person benchmarked: one at the 90th percentile of links, a busy
    # but ordinary contact (the busiest is reported separately).
    mid = ranked[(len(ranked) * 9) // 10]
    # A meeting that links that person in its frontmatter: the note saved in
    # the save->push benchmark.  Take a recent one, as a user would edit.
    save = next(m for m in reversed(meetings) if mid in m["attendees"])
    # The due-date query's cut-off: the date of the 200th meeting, so about
    # 350 tasks match at every size and the figure tracks the index, not the
    # growth of the answer.
    due = meetings[min(len(meetings) - 1, 200)]["date"].isoformat()
    return {
        "notes": len(people) + len(meetings),
        "people": len(people),
        "meetings": len(meetings),
        "tasks": tasks,
        "bytes": vault_bytes,
        "seed": seed,
        "top_person": top,
        "top_person_links": links_to[top],
        "top_person_mentions": len(mentions[top]),
        "person": mid,
        "person_links": links_to[mid],
        "person_mentions": len(mentions[mid]),
        "save_note": save["path"],
        "due_before": due,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notes", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--manifest", help="write the manifest JSON here")
    a = ap.parse_args(argv)
    if a.notes < 5:
        ap.error("--notes must be at least 5")
    man = generate(a.notes, a.out, a.seed)
    js = json.dumps(man, indent=2, sort_keys=True) + "\n"
    if a.manifest:
        with open(a.manifest, "w") as f:
            f.write(js)
    else:
        sys.stdout.write(js)
    return 0


if __name__ == "__main__":
    sys.exit(main())
