#!/usr/bin/env python3
"""Seeds from the schema (proto/dpidual.proto, common/topics.c): for every
topic, a message with every field set, as JSON (pbjson's shape) and as
protobuf bytes (protoc --encode), for fuzz_bus, fuzz_pbjson_parse and
fuzz_jsonl (input formats: the harnesses' headers).
    schema_seeds.py HARNESS OUTDIR SOURCE_DIR"""
import base64, json, os, re, struct, subprocess, sys

harness, out, src = sys.argv[1:4]
proto = os.path.join(src, 'proto', 'dpidual.proto')
text = re.sub(r'//[^\n]*', '', open(proto).read())

# messages: name -> [(label, type, name, number)], enums: name -> [value names]
messages, enums = {}, {}
stack = []
for line in text.splitlines():
    line = line.strip()
    m = re.match(r'(message|enum|oneof)\s+(\w+)\s*\{', line)
    if m:
        stack.append((m.group(1), m.group(2)))
        if m.group(1) == 'message':
            messages[m.group(2)] = []
        elif m.group(1) == 'enum':
            owners = [n for k, n in stack[:-1] if k == 'message']
            enums[(owners[-1] if owners else '', m.group(2))] = []
        continue
    if line.startswith('}'):
        stack.pop()
        continue
    kinds = [k for k, _ in stack]
    if not stack:
        continue
    if kinds[-1] == 'enum':
        m = re.match(r'(\w+)\s*=\s*(-?\d+)', line)
        if m:
            owners = [n for k, n in stack[:-1] if k == 'message']
            enums[(owners[-1] if owners else '', stack[-1][1])].append(m.group(1))
        continue
    m = re.match(r'(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)', line)
    if m:
        owner = [n for k, n in stack if k == 'message'][-1]
        messages[owner].append((bool(m.group(1)), m.group(2), m.group(3), int(m.group(4))))

# topics in topics.c's order, with their message names
topics_h = open(os.path.join(src, 'common', 'topics.h')).read()
names = dict(re.findall(r'#define\s+(TOPIC_\w+)\s+"([^"]+)"', topics_h))
topics = []
for macro, desc in re.findall(r'\{\s*(TOPIC_\w+),\s*&dpidual__v1__(\w+)__descriptor',
                              open(os.path.join(src, 'common', 'topics.c')).read()):
    topics.append((names[macro], ''.join(p.capitalize() for p in desc.split('_'))))

INTS = {'uint32', 'uint64', 'fixed32', 'fixed64', 'int32', 'int64', 'sint32', 'sint64',
        'sfixed32', 'sfixed64'}

def value(owner, ftype, fname, i, depth):
    """(json value, text-format value) of one field."""
    if ftype == 'string':
        s = '192.0.2.%d' % (i + 7) if fname.endswith('ip') else 'x-%s-%d \u00e9"\\' % (fname, i)
        if fname == 'source':
            s = 'fuzz@seed'
        return s, json.dumps(s, ensure_ascii=False)
    if ftype in INTS:
        n = (i + 1) * (3 if fname != 'seq' else 1)
        if ftype.startswith(('int', 'sint', 'sfixed')) and fname != 'seq':
            n = -n
        return n, str(n)
    if ftype in ('double', 'float'):
        return 1.5 + i, repr(1.5 + i)
    if ftype == 'bool':
        return True, 'true'
    if ftype == 'bytes':
        raw = bytes([0, 255, 97, 98, 10][: 3 + i])
        return base64.b64encode(raw).decode(), '"' + ''.join('\\%03o' % b for b in raw) + '"'
    short = ftype.split('.')[-1]
    names = enums.get((owner, short)) or next((v for (o, n), v in enums.items() if n == short), None)
    if names:
        v = names[min(1, len(names) - 1)]
        return v, v
    if short in messages and depth < 4:
        j, t = message(short, depth + 1, i)
        return j, '{' + t + '}'
    return None, None

def message(name, depth=0, i=0):
    j, t = {}, []
    for repeated, ftype, fname, _ in messages[name]:
        vals = [value(name, ftype, fname, k + i, depth) for k in range(2 if repeated else 1)]
        if vals[0][0] is None:
            continue
        j[fname] = [v[0] for v in vals] if repeated else vals[0][0]
        t += ['%s: %s' % (fname, v[1]) if not v[1].startswith('{') else '%s %s' % (fname, v[1])
              for v in vals]
    return j, ' '.join(t)

def encode(name, textfmt):
    return subprocess.run(['protoc', '--proto_path=' + os.path.dirname(proto),
                           '--encode=dpidual.v1.' + name, os.path.basename(proto)],
                          input=textfmt.encode(), capture_output=True, check=True).stdout

def write(name, data):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)

lines = {}
for index, (topic, msg) in enumerate(topics):
    j, t = message(msg)
    lines[topic] = json.dumps(dict(topic=topic, **j), ensure_ascii=False).encode()
    if harness == 'fuzz_pbjson_parse':
        write('%s.json' % topic, bytes([index]) + lines[topic])
        write('%s-empty.json' % topic, bytes([index]) + b'{}')
    elif harness == 'fuzz_bus':
        frames = b''
        for seq in (1, 2, 4, 1):            # in order, a gap, a restart
            body = encode(msg, re.sub(r'seq: \d+', 'seq: %d' % seq, t, count=1))
            frames += bytes([index]) + struct.pack('>H', len(body)) + body
        write('%s.bus' % topic, b'\0' + frames)
        write('%s-headers.bus' % topic, b'\1' + frames)
if harness == 'fuzz_jsonl':
    every = b'\n'.join(lines.values())
    for reader in (0, 1):
        write('all-%d.jsonl' % reader, bytes([reader]) + every + b'\n\nnot json\n{"no":"topic"}\n')
        for topic, line in lines.items():
            write('%s-%d.jsonl' % (topic, reader), bytes([reader]) + line + b'\n')
