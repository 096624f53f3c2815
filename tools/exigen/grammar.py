"""Schema-informed EXI grammars (EXI 1.0 section 8.5.4) for a SchemaSet.

We build, for every complex type, a Thompson-style NFA over EXI events from
the type's attribute uses and content particle, turn it into a DFA by subset
construction, and then minimise all DFA states of the schema set together.
The first-level productions of a state are exactly the events allowed after
the events read so far (the grammar is deterministic), so any
language-equivalent construction yields the same event codes as the
specification's grammar construction, once productions are ordered as in
8.5.4.4.2 (AT(qname) sorted by local name then URI, AT(*), SE(qname) in
schema order, SE(*), EE, CH).

Only the options V2G uses are modelled: strict=false (every element-grammar
state has second-level productions, so a first-level code for n productions
takes ceil(log2(n+1)) bits), no fidelity options (no NS/CM/PI/DT/ER/SC),
bit-packed alignment.

Bounded repetitions of one element (maxOccurs = N > 1) are not unrolled into
N states; instead the transition carries a counter operation that the
runtime evaluates, selecting an alternative target state once N occurrences
are reached. This is exactly equivalent to unrolling, and keeps tables small.
"""
from .xsd import UNBOUNDED, ComplexType, SchemaError, SimpleType

# production kinds (shared with the runtime, firmware/v2g/exi/codec.py)
SE_C = 0     # SE(qname) of an element with a complex type; ref = start state
SE_S = 1     # SE(qname) of an element with a simple type; ref = datatype id
EE = 2
AT = 3       # ref = datatype id
CH = 4       # typed character content (simple content); ref = datatype id
SE_ANY = 5   # wildcard SE(*) (decoding/encoding unsupported, counted for codes)
CH_MIXED = 6 # untyped character content in mixed content

# ordering classes (8.5.4.4.2)
_CLS = {AT: 0, SE_C: 3, SE_S: 3, SE_ANY: 5, EE: 6, CH: 7, CH_MIXED: 7}

# datatype kinds (shared with the runtime)
DT_BOOL, DT_HEX, DT_B64, DT_STR, DT_NBIT, DT_UINT, DT_INT, DT_ENUM = range(8)


class Label:
    __slots__ = ("kind", "sortkey", "event", "name", "ref", "lst", "counter", "abstract")

    def __init__(self, kind, sortkey, event, name=None, ref=None, lst=False, counter=None, abstract=False):
        self.abstract = abstract
        self.kind = kind
        self.sortkey = sortkey
        self.event = event          # identity for determinisation
        self.name = name            # local name
        self.ref = ref              # ('type', ComplexType) or ('dt', SimpleType)
        self.lst = lst
        self.counter = counter      # None | ('set', k, max, L, Lfull) | ('inc', max, L, Lfull)


class NFA:
    def __init__(self):
        self.edges = []             # node -> list of (Label|None, target)
        self.mixed = set()          # nodes carrying CH [untyped] loops

    def node(self):
        self.edges.append([])
        return len(self.edges) - 1

    def eps(self, a, b):
        self.edges[a].append((None, b))

    def add(self, a, label, b):
        self.edges[a].append((label, b))


class Grammars:
    def __init__(self, schema):
        self.schema = schema
        self.names = []
        self._name_ix = {}
        self.dtypes = []
        self._dt_ix = {}
        self.enums = []
        self._enum_ix = {}
        # DFA states: list of list of production dicts
        self.states = []
        self._type_start = {}       # id(ComplexType) -> state index
        self._pending = []

    # ------------------------------------------------------------- interning
    def name_id(self, local):
        i = self._name_ix.get(local)
        if i is None:
            i = len(self.names)
            self.names.append(local)
            self._name_ix[local] = i
        return i

    def dtype_id(self, st):
        if not isinstance(st, SimpleType):
            raise SchemaError("expected simple type")
        if st.enum is not None:
            key_enum = tuple(st.enum)
            ei = self._enum_ix.get(key_enum)
            if ei is None:
                ei = len(self.enums)
                self.enums.append(key_enum)
                self._enum_ix[key_enum] = ei
            desc = (DT_ENUM, 0, len(st.enum) - 1, ei)
        elif st.kind == "boolean":
            desc = (DT_BOOL, 0, 1, None)
        elif st.kind == "hexBinary":
            desc = (DT_HEX, st.min_len, st.max_len, None)
        elif st.kind == "base64Binary":
            desc = (DT_B64, st.min_len, st.max_len, None)
        elif st.kind == "string":
            desc = (DT_STR, st.min_len, st.max_len, None)
        elif st.kind == "integer":
            lo, hi = st.min, st.max
            if lo is not None and hi is not None and hi - lo < 4096:
                desc = (DT_NBIT, lo, hi, None)
            elif lo is not None and lo >= 0:
                desc = (DT_UINT, lo, hi, None)
            else:
                desc = (DT_INT, lo, hi, None)
        else:
            raise SchemaError("unsupported datatype %s" % st.kind)
        i = self._dt_ix.get(desc)
        if i is None:
            i = len(self.dtypes)
            self.dtypes.append(desc)
            self._dt_ix[desc] = i
        return i

    # ------------------------------------------------------------- NFA
    def _type_nfa(self, ct):
        nfa = NFA()
        start = nfa.node()
        cur = start
        self._pos = 0
        opt_targets = set()
        for au in sorted(ct.attrs, key=lambda a: (a.qname[1], a.qname[0])):
            nxt = nfa.node()
            lab = Label(AT, (au.qname[1], au.qname[0]), ("AT",) + au.qname, au.qname[1], ("dt", au.stype))
            nfa.add(cur, lab, nxt)
            if not au.required:
                nfa.eps(cur, nxt)
                opt_targets.add(nxt)
            cur = nxt
        content_start = cur
        if ct.simple is not None:
            nxt = nfa.node()
            nfa.add(cur, Label(CH, (), ("CH",), None, ("dt", ct.simple)), nxt)
            cur = nxt
        elif ct.particle is not None:
            # children of mixed content are lists in the model (text may come between them)
            s, e = self._particle(nfa, ct.particle, ct.mixed)
            nfa.eps(cur, s)
            cur = e
        accept = cur
        if ct.mixed:
            # every state of the content grammar gets CH [untyped value]
            reach = set()
            todo = [content_start]
            while todo:
                n = todo.pop()
                if n in reach:
                    continue
                reach.add(n)
                for _lab, t in nfa.edges[n]:
                    todo.append(t)
            nfa.mixed = reach
        nfa.content_start = content_start
        nfa.opt_attr_targets = opt_targets
        nfa.n_attrs = len(ct.attrs)
        return nfa, start, accept

    def _term(self, nfa, p, lst, counter=None, rep=False):
        """Term grammar for particle p (ignoring its occurrence range). Returns (start, end)."""
        if p.kind == "element":
            s, e = nfa.node(), nfa.node()
            pos = self._pos
            self._pos += 1
            decl = p.decl
            members = [decl] if not decl.is_global else self.schema.subst_members(decl.qname)
            # EXIficient (the reference peer) keeps abstract heads in the list too
            members.sort(key=lambda m: (m.qname[1], m.qname[0]))
            for m in members:
                if isinstance(m.type, ComplexType):
                    kind, ref = SE_C, ("type", m.type)
                else:
                    kind, ref = SE_S, ("dt", m.type)
                abstract = m.abstract or (isinstance(m.type, ComplexType) and m.type.abstract)
                lab = Label(kind, (pos, m.qname[1], m.qname[0]), ("SE",) + m.qname, m.qname[1], ref, lst, counter,
                            abstract)
                nfa.add(s, lab, e)
            return s, e
        if p.kind == "any":
            s, e = nfa.node(), nfa.node()
            pos = self._pos
            self._pos += 1
            if p.ns not in ("##any", "##other"):
                raise SchemaError("wildcard namespace lists unsupported")
            nfa.add(s, Label(SE_ANY, (pos,), ("SE*",), "*"), e)
            return s, e
        if p.kind == "sequence":
            s = nfa.node()
            cur = s
            for c in p.children:
                cs, ce = self._particle(nfa, c, rep)
                nfa.eps(cur, cs)
                cur = ce
            return s, cur
        if p.kind == "choice":
            s, e = nfa.node(), nfa.node()
            if not p.children:
                nfa.eps(s, e)
            for c in p.children:
                cs, ce = self._particle(nfa, c, rep)
                nfa.eps(s, cs)
                nfa.eps(ce, e)
            return s, e
        raise SchemaError("unsupported particle kind %s" % p.kind)

    def _particle(self, nfa, p, rep=False):
        """Grammar of particle p; rep: p is inside a group that may repeat (its elements are lists)."""
        mn, mx = p.min, p.max
        many = mx == UNBOUNDED or mx > 1
        lst = p.kind == "element" and (many or rep)
        rep = rep or many
        if p.kind == "element" and mx != UNBOUNDED and mx > 1:
            # counted repetition: mn mandatory copies, then one counted loop node
            save = self._pos
            s = nfa.node()
            cur = s
            for i in range(mn):
                self._pos = save
                ts, te = self._term(nfa, p, lst, rep=rep)
                nfa.eps(cur, ts)
                cur = te
            exit_ = nfa.node()
            loop = nfa.node()
            full = nfa.node()
            nfa.eps(loop, exit_)
            nfa.eps(full, exit_)
            nfa.eps(cur, exit_)
            self._pos = save
            ts, te = self._term(nfa, p, lst, counter=("set", mn + 1, mx, loop, full), rep=rep)
            nfa.eps(cur, ts)
            nfa.eps(te, loop)
            self._pos = save
            ts2, te2 = self._term(nfa, p, lst, counter=("inc", mx, loop, full), rep=rep)
            nfa.eps(loop, ts2)
            nfa.eps(te2, loop)
            return s, exit_
        save = self._pos
        s = nfa.node()
        cur = s
        for i in range(mn):
            self._pos = save
            ts, te = self._term(nfa, p, lst, rep=rep)
            nfa.eps(cur, ts)
            cur = te
        if mx == UNBOUNDED:
            self._pos = save
            ts, te = self._term(nfa, p, lst, rep=rep)
            e = nfa.node()
            nfa.eps(cur, ts)
            nfa.eps(te, ts)
            nfa.eps(te, e)
            nfa.eps(cur, e)
            return s, e
        opt = mx - mn
        ends = [cur]
        for i in range(opt):
            self._pos = save
            ts, te = self._term(nfa, p, lst, rep=rep)
            nfa.eps(cur, ts)
            cur = te
            ends.append(cur)
        e = nfa.node()
        for x in ends:
            nfa.eps(x, e)
        if mn == 0 and mx == 0:
            return s, s
        if not ends:
            nfa.eps(cur, e)
        return s, e

    # ------------------------------------------------------------- DFA
    def type_start(self, ct):
        k = id(ct)
        st = self._type_start.get(k)
        if st is None:
            st = len(self.states)
            self.states.append(None)
            self._type_start[k] = st
            self._pending.append((ct, st))
        return st

    def build(self):
        while self._pending:
            ct, st = self._pending.pop(0)
            self._build_type(ct, st)

    def _build_type(self, ct, first_index):
        nfa, start, accept = self._type_nfa(ct)

        def closure(nodes, skip=None):
            out = set(nodes)
            todo = list(nodes)
            while todo:
                n = todo.pop()
                for lab, t in nfa.edges[n]:
                    if lab is None and t not in out and t != skip:
                        out.add(t)
                        todo.append(t)
            return frozenset(out)

        index = {}
        order = []

        def get(fs):
            i = index.get(fs)
            if i is None:
                if not order:
                    i = first_index
                else:
                    i = len(self.states)
                    self.states.append(None)
                index[fs] = i
                order.append(fs)
            return i

        get(closure([start]))
        k = 0
        while k < len(order):
            fs = order[k]
            k += 1
            groups = {}
            glabel = {}
            for n in sorted(fs):
                for lab, t in nfa.edges[n]:
                    if lab is None:
                        continue
                    groups.setdefault(lab.event, set()).add(t)
                    prev = glabel.get(lab.event)
                    if prev is None:
                        glabel[lab.event] = lab
                    elif prev.ref != lab.ref:
                        raise SchemaError("non-deterministic content model (%s)" % (lab.event,))
            prods = []
            for ev, targets in groups.items():
                lab = glabel[ev]
                tgt = closure(targets)
                prod = {"kind": lab.kind, "sort": (_CLS[lab.kind], lab.sortkey), "name": lab.name,
                        "ref": lab.ref, "lst": lab.lst, "next": get(tgt), "counter": None,
                        "abstract": lab.abstract}
                if lab.counter is not None:
                    c = lab.counter
                    if c[0] == "set":
                        _op, val, mx, loop, full = c
                    else:
                        _op, mx, loop, full = c
                        val = 0
                    # the same target without the loop back to another occurrence
                    alt = closure(set(targets) | {full}, skip=loop)
                    prod["counter"] = (c[0], val, mx, get(alt))
                prods.append(prod)
            if accept in fs:
                prods.append({"kind": EE, "sort": (_CLS[EE], ()), "name": None, "ref": None,
                              "lst": False, "next": None, "counter": None, "abstract": False})
            # second-level productions of this state (8.5.4.4.1, strict=false; no fidelity options):
            # EE if not first-level; xsi:type, xsi:nil in the first state; AT(*) and an untyped AT
            # per attribute while attributes may come; SE(*) and untyped CH once content has begun.
            # Only their number matters to us: EE is code 0, and it is how an empty value of
            # simple content is written (no CH event), as EXIficient does.
            m = 0 if accept in fs else 1
            if index[fs] == first_index:
                m += 2
            if any(n < nfa.content_start for n in fs):
                m += 1 + nfa.n_attrs
            else:
                m += 2
                if fs & nfa.opt_attr_targets:
                    # Matched against EXIficient: after an optional attribute the peer still
                    # counts the start-tag productions (xsi:type, xsi:nil, AT(*), untyped ATs).
                    m += 3 + nfa.n_attrs
            w2 = (m - 1).bit_length()
            for prod in prods:
                if prod["kind"] == CH:
                    prod["w2"] = w2
            if fs & nfa.mixed:
                prods.append({"kind": CH_MIXED, "sort": (_CLS[CH_MIXED], ()), "name": None, "ref": None,
                              "lst": False, "next": index[fs], "counter": None, "abstract": False})
            prods.sort(key=lambda p: p["sort"])
            self.states[index[fs]] = prods

    # ------------------------------------------------------------- tables
    def resolve_refs(self):
        """Replace ('type', ct)/('dt', st) refs with state indices / datatype ids (may add states)."""
        i = 0
        while True:
            self.build()
            changed = False
            for prods in self.states:
                if prods is None:
                    continue
                for p in prods:
                    r = p["ref"]
                    if isinstance(r, tuple):
                        if r[0] == "type":
                            p["ref"] = self.type_start(r[1])
                            changed = True
                        else:
                            p["ref"] = self.dtype_id(r[1])
            if not self._pending and not changed:
                break
            i += 1
        self.build()
