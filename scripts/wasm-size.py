#!/usr/bin/env python3
"""Where the bytes of a .wasm go: code size per function, summed per crate (like twiggy's
`top`, grouped). Needs a module with its name section (build-pkg.sh keeps a copy with names
at target/wasm-size/vaultsync_named.wasm when WASM_SIZE=1).

    scripts/wasm-size.py target/wasm-size/vaultsync_named.wasm [--top 40]

Prints: sections, the crates by code bytes, and the largest functions. Sizes are of the
unoptimised-for-names module; ratios, not absolute figures, carry over to the shipped one.
"""
import re
import sys
from collections import Counter


def leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def sections(data):
    assert data[:4] == b"\0asm", "not a wasm module"
    i = 8
    while i < len(data):
        sid = data[i]
        size, j = leb(data, i + 1)
        yield sid, data[j : j + size]
        i = j + size


def demangle(name):
    """Legacy Rust mangling (_ZN...E) to a path; v0 and plain names are kept."""
    m = re.match(r"^_ZN(.*)E$", name)
    if not m:
        return name
    body, parts, i = m.group(1), [], 0
    while i < len(body) and body[i].isdigit():
        j = i
        while body[j].isdigit():
            j += 1
        n = int(body[i:j])
        parts.append(body[j : j + n])
        i = j + n
    if parts and re.match(r"^h[0-9a-f]{16}$", parts[-1]):
        parts.pop()
    path = "::".join(parts)
    for a, b in (("$LT$", "<"), ("$GT$", ">"), ("$u20$", " "), ("$RF$", "&"), ("$C$", ","),
                 ("..", "::"), ("$u7b$", "{"), ("$u7d$", "}"), ("$BP$", "*"), ("$u27$", "'")):
        path = path.replace(a, b)
    return path


def v0_path(name):
    """The identifiers of a v0-mangled name (_R...), roughly: enough to classify it."""
    return "::".join(m.group(2) for m in re.finditer(r"(\d+)([A-Za-z_][A-Za-z0-9_]*)", name)
                     if len(m.group(2)) == int(m.group(1)))


def topic_of(name):
    """What a function is for, by the words in its path."""
    if name.startswith("_R"):
        name = v0_path(name)
    checks = [
        ("serde (JSON, derived impls)", ("serde",)),
        ("async (futures, promises)", ("future_to_promise", "{{closure}}", "futures")),
        ("formatting (core::fmt, floats)", ("core::fmt", "flt2dec", "fmt::", "Display", "Debug",
                                            "float_to_decimal", "write_char", "write_str",
                                            "unicode", "printable")),
        ("sorting", ("slice::sort",)),
        ("crypto primitives", ("aes::", "sha2", "polyval", "hmac", "hkdf", "pbkdf2", "ghash",
                               "aes_gcm", "base64ct", "subtle", "zeroize")),
        ("collections, strings, alloc", ("alloc::", "btree", "hashbrown", "core::str",
                                         "dlmalloc", "rdl_", "core::slice", "core::ptr")),
        ("wasm-bindgen, js-sys glue", ("wasm_bindgen", "js_sys", "__wbg", "externref")),
        ("vaultsync", ("vaultsync",)),
    ]
    for topic, words in checks:
        if any(w in name for w in words):
            return topic
    return "other"


def crate_of(name):
    if name.startswith("_R"):
        name = v0_path(name)
    name = name.lstrip("_<&* ")
    name = re.sub(r"^(dyn |impl |mut )", "", name)
    head = re.split(r"::|<| as |\s", name, maxsplit=1)[0]
    return head or "?"


def main():
    args = sys.argv[1:]
    top = 40
    if "--top" in args:
        k = args.index("--top")
        top = int(args[k + 1])
        del args[k : k + 2]
    data = open(args[0], "rb").read()
    imports = 0
    bodies = []
    names = {}
    sizes = Counter()
    ids = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
           6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
           12: "datacount"}
    for sid, body in sections(data):
        label = ids.get(sid, str(sid))
        if sid == 0:
            n, j = leb(body, 0)
            cname = body[j : j + n].decode()
            label = f"custom:{cname}"
            if cname == "name":
                k = j + n
                while k < len(body):
                    sub = body[k]
                    size, k2 = leb(body, k + 1)
                    if sub == 1:
                        count, p = leb(body, k2)
                        for _ in range(count):
                            idx, p = leb(body, p)
                            ln, p = leb(body, p)
                            names[idx] = body[p : p + ln].decode("utf-8", "replace")
                            p += ln
                    k = k2 + size
        elif sid == 2:
            count, p = leb(body, 0)
            for _ in range(count):
                for _ in range(2):
                    ln, p = leb(body, p)
                    p += ln
                kind = body[p]
                p += 1
                if kind == 0:
                    imports += 1
                    _, p = leb(body, p)
                elif kind == 1:
                    p += 1
                    flags, p = leb(body, p)
                    _, p = leb(body, p)
                    if flags & 1:
                        _, p = leb(body, p)
                elif kind == 2:
                    flags, p = leb(body, p)
                    _, p = leb(body, p)
                    if flags & 1:
                        _, p = leb(body, p)
                elif kind == 3:
                    p += 2
        elif sid == 10:
            count, p = leb(body, 0)
            for _ in range(count):
                size, p2 = leb(body, p)
                bodies.append(size + (p2 - p))
                p = p2 + size
        sizes[label] += len(body)
    total = len(data)
    print(f"{args[0]}: {total:,} bytes")
    for label, size in sizes.most_common():
        print(f"  section {label:<24} {size:>9,}  {100 * size / total:5.1f}%")
    per_fn = []
    for k, size in enumerate(bodies):
        per_fn.append((size, demangle(names.get(imports + k, f"func[{imports + k}]"))))
    code = sum(s for s, _ in per_fn)
    crates = Counter()
    for size, name in per_fn:
        crates[crate_of(name)] += size
    print(f"\ncode by crate ({code:,} bytes of function bodies):")
    for crate, size in crates.most_common(20):
        print(f"  {crate:<32} {size:>9,}  {100 * size / code:5.1f}%")
    topics = Counter()
    for size, name in per_fn:
        topics[topic_of(name)] += size
    print("\ncode by purpose:")
    for topic, size in topics.most_common():
        print(f"  {topic:<32} {size:>9,}  {100 * size / code:5.1f}%")
    print(f"\nlargest {top} functions:")
    for size, name in sorted(per_fn, reverse=True)[:top]:
        print(f"  {size:>8,}  {name[:150]}")


if __name__ == "__main__":
    main()
