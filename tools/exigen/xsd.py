"""Minimal XML Schema reader for the V2G schemas (host-only, CPython).

Reads a set of XSD files (following xs:import/xs:include by schemaLocation)
into a small object model: global elements, complex types, simple types and
substitution groups. Only the XSD features used by the V2G schemas and
xmldsig are supported; anything else raises SchemaError so that a schema
change cannot silently produce a wrong codec.
"""
import os
import xml.etree.ElementTree as ET

XS = "http://www.w3.org/2001/XMLSchema"
UNBOUNDED = -1


class SchemaError(Exception):
    pass


def _q(tag):
    return "{%s}%s" % (XS, tag)


class SimpleType:
    """A simple type resolved to an EXI-relevant built-in kind plus facets."""

    def __init__(self, name, kind, base_name):
        self.name = name          # (ns, local) or None for anonymous
        self.kind = kind          # 'boolean','hexBinary','base64Binary','string','integer','decimal','float'
        self.builtin = base_name  # the XSD built-in this derives from (local name)
        self.min = None           # inclusive bounds for integers
        self.max = None
        self.min_len = None
        self.max_len = None
        self.enum = None          # list of literal strings

    def copy(self, name):
        t = SimpleType(name, self.kind, self.builtin)
        t.min, t.max = self.min, self.max
        t.min_len, t.max_len = self.min_len, self.max_len
        t.enum = list(self.enum) if self.enum is not None else None
        return t


# Built-in integer types and their value spaces.
_INT_BOUNDS = {
    "integer": (None, None), "long": (-(1 << 63), (1 << 63) - 1), "int": (-(1 << 31), (1 << 31) - 1),
    "short": (-32768, 32767), "byte": (-128, 127),
    "nonNegativeInteger": (0, None), "positiveInteger": (1, None),
    "unsignedLong": (0, (1 << 64) - 1), "unsignedInt": (0, (1 << 32) - 1),
    "unsignedShort": (0, 65535), "unsignedByte": (0, 255),
    "nonPositiveInteger": (None, 0), "negativeInteger": (None, -1),
}
_STRINGS = ("string", "normalizedString", "token", "language", "Name", "NCName", "ID", "IDREF",
            "IDREFS", "ENTITY", "NMTOKEN", "NMTOKENS", "anyURI", "anySimpleType")


def builtin_simple(local):
    if local in _INT_BOUNDS:
        t = SimpleType((XS, local), "integer", local)
        t.min, t.max = _INT_BOUNDS[local]
        return t
    if local in _STRINGS:
        return SimpleType((XS, local), "string", local)
    if local in ("boolean", "hexBinary", "base64Binary", "decimal"):
        return SimpleType((XS, local), local, local)
    if local in ("float", "double"):
        return SimpleType((XS, local), "float", local)
    raise SchemaError("unsupported built-in type xs:%s" % local)


class AttrUse:
    def __init__(self, qname, stype, required):
        self.qname = qname
        self.stype = stype
        self.required = required


class Particle:
    """kind: 'element' (decl), 'any' (wildcard), 'sequence', 'choice'."""

    def __init__(self, kind, min_occurs, max_occurs, decl=None, children=None, ns=None):
        self.kind = kind
        self.min = min_occurs
        self.max = max_occurs
        self.decl = decl
        self.children = children or []
        self.ns = ns


class ComplexType:
    def __init__(self, name):
        self.name = name
        self.abstract = False
        self.mixed = False
        self.attrs = []           # AttrUse, in declaration order (sorted later)
        self.particle = None      # content particle or None (empty)
        self.simple = None        # SimpleType for simple content
        self.resolved = False
        self.node = None
        self.schema = None


class ElementDecl:
    def __init__(self, qname, is_global):
        self.qname = qname
        self.is_global = is_global
        self.type = None          # ComplexType or SimpleType
        self.abstract = False
        self.subst_head = None    # qname of head
        self.nillable = False


class _Doc:
    def __init__(self, path, root):
        self.path = path
        self.root = root
        self.tns = root.get("targetNamespace", "")
        self.elem_qualified = root.get("elementFormDefault") == "qualified"
        self.attr_qualified = root.get("attributeFormDefault") == "qualified"


class SchemaSet:
    def __init__(self, files):
        self.docs = []
        self._seen = set()
        for f in files:
            self._load(os.path.abspath(f))
        self.elements = {}        # qname -> ElementDecl (global)
        self.ctypes = {}          # qname -> ComplexType
        self.stypes = {}          # qname -> SimpleType
        self._stype_nodes = {}
        self._resolving = set()
        for d in self.docs:
            for child in d.root:
                name = child.get("name")
                if child.tag == _q("complexType"):
                    ct = ComplexType((d.tns, name))
                    ct.node, ct.schema = child, d
                    self.ctypes[ct.name] = ct
                elif child.tag == _q("simpleType"):
                    self._stype_nodes[(d.tns, name)] = (child, d)
                elif child.tag == _q("element"):
                    self.elements[(d.tns, name)] = ElementDecl((d.tns, name), True)
        for d in self.docs:
            for child in d.root:
                if child.tag == _q("element"):
                    self._fill_element(self.elements[(d.tns, child.get("name"))], child, d)
        for ct in list(self.ctypes.values()):
            self.resolve_ctype(ct)
        self.subst = {}           # head qname -> [member qnames] (direct members)
        for e in self.elements.values():
            if e.subst_head is not None:
                self.subst.setdefault(e.subst_head, []).append(e.qname)

    # ------------------------------------------------------------ loading
    def _load(self, path):
        if path in self._seen:
            return
        self._seen.add(path)
        if not os.path.exists(path):
            # DIN's header imports xmldsig from its own folder; the package ships it one level up
            alt = os.path.join(os.path.dirname(os.path.dirname(path)), os.path.basename(path))
            if not os.path.exists(alt):
                raise SchemaError("schema file not found: %s" % path)
            path = alt
            if path in self._seen:
                return
            self._seen.add(path)
        root = ET.parse(path).getroot()
        d = _Doc(path, root)
        self.docs.append(d)
        for child in root:
            if child.tag in (_q("import"), _q("include")):
                loc = child.get("schemaLocation")
                if loc:
                    self._load(os.path.normpath(os.path.join(os.path.dirname(path), loc)))

    def _qn(self, d, value):
        """Resolve a prefixed QName attribute value using the document's namespace declarations."""
        if ":" in value:
            prefix, local = value.split(":", 1)
        else:
            prefix, local = "", value
        ns = _nsmap_of(d).get(prefix)
        if ns is None:
            if prefix == "":
                ns = ""
            else:
                raise SchemaError("unknown prefix %r" % prefix)
        return (ns, local)

    # ------------------------------------------------------------ types
    def lookup_type(self, qname):
        if qname[0] == XS:
            if qname[1] == "anyType":
                ct = ComplexType(qname)
                ct.mixed = True
                ct.resolved = True
                ct.particle = Particle("sequence", 1, 1, children=[Particle("any", 0, UNBOUNDED, ns="##any")])
                return ct
            return builtin_simple(qname[1])
        if qname in self.ctypes:
            return self.ctypes[qname]
        if qname in self.stypes:
            return self.stypes[qname]
        if qname in self._stype_nodes:
            node, d = self._stype_nodes[qname]
            st = self._simple_from_node(node, d, qname)
            self.stypes[qname] = st
            return st
        raise SchemaError("unknown type %s" % (qname,))

    def _simple_from_node(self, node, d, name):
        restr = node.find(_q("restriction"))
        if restr is None:
            raise SchemaError("only restriction simple types are supported (%s)" % (name,))
        base_name = restr.get("base")
        if base_name is None:
            raise SchemaError("anonymous restriction base unsupported")
        base = self.lookup_type(self._qn(d, base_name))
        if not isinstance(base, SimpleType):
            raise SchemaError("simple type restricting complex type")
        st = base.copy(name)
        enums = []
        for f in restr:
            v = f.get("value")
            tag = f.tag.split("}")[1]
            if tag == "enumeration":
                enums.append(v)
            elif tag == "minInclusive":
                st.min = int(v)
            elif tag == "maxInclusive":
                st.max = int(v)
            elif tag == "minExclusive":
                st.min = int(v) + 1
            elif tag == "maxExclusive":
                st.max = int(v) - 1
            elif tag == "length":
                st.min_len = st.max_len = int(v)
            elif tag == "minLength":
                st.min_len = int(v)
            elif tag == "maxLength":
                st.max_len = int(v)
            elif tag in ("annotation", "totalDigits", "fractionDigits", "whiteSpace"):
                pass
            elif tag == "pattern":
                raise SchemaError("pattern facets are not supported (%s)" % (name,))
            else:
                raise SchemaError("unsupported facet %s in %s" % (tag, name))
        if enums:
            st.enum = enums
        return st

    def _type_of(self, node, d, name_hint):
        """Type of an element/attribute node: @type, inline complexType/simpleType, or anyType."""
        t = node.get("type")
        if t:
            return self.lookup_type(self._qn(d, t))
        ctn = node.find(_q("complexType"))
        if ctn is not None:
            ct = ComplexType(None)
            ct.node, ct.schema = ctn, d
            self.resolve_ctype(ct)
            return ct
        stn = node.find(_q("simpleType"))
        if stn is not None:
            return self._simple_from_node(stn, d, None)
        return self.lookup_type((XS, "anyType"))

    def _fill_element(self, decl, node, d):
        decl.abstract = node.get("abstract") == "true"
        decl.nillable = node.get("nillable") == "true"
        sg = node.get("substitutionGroup")
        if sg:
            decl.subst_head = self._qn(d, sg)
        decl.type = self._type_of(node, d, decl.qname)

    def resolve_ctype(self, ct):
        if ct.resolved:
            return ct
        if id(ct) in self._resolving:
            raise SchemaError("circular type derivation")
        self._resolving.add(id(ct))
        node, d = ct.node, ct.schema
        ct.abstract = node.get("abstract") == "true"
        ct.mixed = node.get("mixed") == "true"
        cc = node.find(_q("complexContent"))
        sc = node.find(_q("simpleContent"))
        if cc is not None:
            if cc.get("mixed") == "true":
                ct.mixed = True
            der = cc[0] if cc[0].tag != _q("annotation") else cc[1]
            base = self.lookup_type(self._qn(d, der.get("base")))
            own_particle = self._particle_of(der, d)
            own_attrs = self._attrs_of(der, d)
            if der.tag == _q("extension"):
                if isinstance(base, ComplexType):
                    self.resolve_ctype(base)
                    ct.attrs = list(base.attrs) + own_attrs
                    parts = [p for p in (base.particle, own_particle) if p is not None]
                    if len(parts) == 2:
                        ct.particle = Particle("sequence", 1, 1, children=parts)
                    elif parts:
                        ct.particle = parts[0]
                    if base.mixed:
                        ct.mixed = True
                else:
                    raise SchemaError("complexContent extension of simple type")
            elif der.tag == _q("restriction"):
                ct.attrs = own_attrs
                ct.particle = own_particle
            else:
                raise SchemaError("bad complexContent")
        elif sc is not None:
            der = sc[0] if sc[0].tag != _q("annotation") else sc[1]
            base = self.lookup_type(self._qn(d, der.get("base")))
            if der.tag != _q("extension"):
                raise SchemaError("simpleContent restriction unsupported")
            if isinstance(base, SimpleType):
                ct.simple = base
                ct.attrs = self._attrs_of(der, d)
            else:
                self.resolve_ctype(base)
                ct.simple = base.simple
                ct.attrs = list(base.attrs) + self._attrs_of(der, d)
        else:
            ct.particle = self._particle_of(node, d)
            ct.attrs = self._attrs_of(node, d)
        ct.resolved = True
        self._resolving.discard(id(ct))
        return ct

    def _attrs_of(self, node, d):
        out = []
        for a in node:
            if a.tag == _q("attribute"):
                if a.get("ref"):
                    raise SchemaError("attribute refs unsupported")
                name = a.get("name")
                form = a.get("form")
                qualified = d.attr_qualified if form is None else form == "qualified"
                qn = (d.tns if qualified else "", name)
                out.append(AttrUse(qn, self._type_of(a, d, qn), a.get("use") == "required"))
            elif a.tag == _q("anyAttribute"):
                raise SchemaError("anyAttribute unsupported")
            elif a.tag == _q("attributeGroup"):
                raise SchemaError("attributeGroup unsupported")
        return out

    def _particle_of(self, node, d):
        for c in node:
            if c.tag in (_q("sequence"), _q("choice"), _q("all"), _q("group")):
                return self._particle(c, d)
        return None

    def _particle(self, node, d):
        mn = int(node.get("minOccurs", "1"))
        mx = node.get("maxOccurs", "1")
        mx = UNBOUNDED if mx == "unbounded" else int(mx)
        tag = node.tag
        if tag in (_q("sequence"), _q("choice")):
            kids = [self._particle(c, d) for c in node
                    if c.tag in (_q("sequence"), _q("choice"), _q("element"), _q("any"), _q("group"), _q("all"))]
            return Particle(tag.split("}")[1], mn, mx, children=kids)
        if tag == _q("element"):
            ref = node.get("ref")
            if ref:
                qn = self._qn(d, ref)
                if qn not in self.elements:
                    raise SchemaError("unknown element ref %s" % (qn,))
                return Particle("element", mn, mx, decl=self.elements[qn])
            form = node.get("form")
            qualified = d.elem_qualified if form is None else form == "qualified"
            qn = (d.tns if qualified else "", node.get("name"))
            decl = ElementDecl(qn, False)
            self._fill_element(decl, node, d)
            return Particle("element", mn, mx, decl=decl)
        if tag == _q("any"):
            return Particle("any", mn, mx, ns=node.get("namespace", "##any"))
        raise SchemaError("unsupported particle %s" % tag)

    def subst_members(self, head_qname):
        """Head plus all (transitive) substitution group members, as ElementDecls."""
        out = []
        todo = [head_qname]
        seen = set()
        while todo:
            q = todo.pop()
            if q in seen:
                continue
            seen.add(q)
            out.append(self.elements[q])
            todo.extend(self.subst.get(q, []))
        return out


_NSMAPS = {}


def _nsmap_of(d):
    m = _NSMAPS.get(d.path)
    if m is None:
        m = {}
        for _ev, (prefix, uri) in ET.iterparse(d.path, events=("start-ns",)):
            m.setdefault(prefix or "", uri)
        _NSMAPS[d.path] = m
    return m
