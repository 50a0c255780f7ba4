#!/usr/bin/env python3
"""Writes toolworker.yaml(5) from the README's configuration table (the same rows, so the two cannot drift).

Usage: scripts/config-manpage.py README.md VERSION DATE > toolworker.yaml.5
"""
import re
import sys


def roff(text):
    """Markdown inline text to roff: code spans in bold, escapes for backslashes and leading dots."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"`([^`]*)`", lambda m: "\\fB" + m.group(1).replace("-", "\\-") + "\\fR", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.replace("**", "")
    return text


def section(lines, heading):
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def main():
    readme, version, date = sys.argv[1], sys.argv[2], sys.argv[3]
    lines = open(readme, encoding="utf-8").read().split("\n")
    body = section(lines, "## Configuration")
    header = body.index("| key | default | meaning |")
    rows = []
    for line in body[header + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 3:
            sys.exit(f"config-manpage: a row of the configuration table does not have 3 cells: {line}")
        rows.append(cells)
    after = []
    for line in body[header + 2 + len(rows):]:
        if line.startswith("```") or line.startswith("#"):
            break
        after.append(line)
    prose = " ".join(l.strip() for l in after if l.strip())

    out = []
    out.append(f'.TH TOOLWORKER.YAML 5 "{date}" "toolworker {version}" "File Formats"')
    out.append(".SH NAME")
    out.append("toolworker.yaml \\- configuration of the ToolWorker daemon")
    out.append(".SH SYNOPSIS")
    out.append("\\fB/etc/toolworker/toolworker.yaml\\fR")
    out.append(".SH DESCRIPTION")
    out.append("A YAML mapping read by every \\fBtoolworker\\fR(1) command (\\fB\\-\\-config\\fR names another file). "
               "Unknown keys, wrong types, missing handlers and handlers without the execute bit are refused, "
               "each problem with its key path and line; \\fBtoolworker check\\-config\\fR validates a file. "
               "Relative paths are taken relative to the file's folder.")
    out.append(".SH KEYS")
    for key, default, meaning in rows:
        out.append(".TP")
        out.append(roff(key))
        text = roff(meaning)
        if default not in ("—", ""):
            text += ("" if text.endswith(".") else ".") + " Default: " + roff(default) + "."
        out.append(text)
    if prose:
        out.append(".SH DURATIONS AND LIMITS")
        out.append(roff(prose))
    out.append(".SH FILES")
    out.append(".TP")
    out.append("\\fB/usr/share/toolworker/tools/\\fR")
    out.append("example handlers")
    out.append(".TP")
    out.append("\\fB/var/lib/toolworker/toolworker.db\\fR")
    out.append("the journal (SQLite)")
    out.append(".SH SEE ALSO")
    out.append("\\fBtoolworker\\fR(1), \\fBtoolworker\\-serve\\fR(1), \\fBsystemd.service\\fR(5)")
    print("\n".join(out))


main()
