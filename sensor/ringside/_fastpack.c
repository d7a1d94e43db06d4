/*
 * msgpack for the sensor's events, in C: ringside._fastpack.
 *
 * pack(obj) returns the bytes that
 *     msgpack.packb(obj, default=ringside_schema.codec.model_fields, use_bin_type=True)
 * returns, for the values events are made of: None, bool, int (to 64 bits),
 * float, str, bytes, list, tuple, dict, and pydantic models, which become the
 * map of their __dict__.  A test packs decoded events both ways and compares
 * the bytes.
 *
 * Why: the Kafka publisher packs every event.  msgpack's own packer is C
 * too, but it calls the Python hook for each nested model (four an event),
 * and that call, with the packer's generic dispatch around it, cost more
 * than the packing.
 *
 * A model type is recognised by a set the caller passes to configure(): the
 * types it has seen before.  For a type not in it, pack() calls the hook
 * (model_fields), which raises TypeError for what is not a model and adds
 * what is to the set, as the Python path does.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
	char *buf;
	Py_ssize_t len;
	Py_ssize_t cap;
} Out;

static PyObject *model_types; /* set of types whose instances pack as their __dict__ */
static PyObject *hook;        /* model_fields: unknown type -> dict, or TypeError */
static PyObject *dict_name;   /* "__dict__" */

static int out_grow(Out *o, Py_ssize_t need)
{
	Py_ssize_t cap = o->cap ? o->cap : 4096;
	char *buf;

	while (cap < o->len + need)
		cap *= 2;
	buf = PyMem_Realloc(o->buf, cap);
	if (!buf) {
		PyErr_NoMemory();
		return -1;
	}
	o->buf = buf;
	o->cap = cap;
	return 0;
}

#define RESERVE(o, n) \
	do { \
		if ((o)->len + (n) > (o)->cap && out_grow((o), (n)) < 0) \
			return -1; \
	} while (0)

static inline void put1(Out *o, unsigned char b)
{
	o->buf[o->len++] = (char)b;
}

static inline void put_be(Out *o, unsigned long long v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		o->buf[o->len++] = (char)(v >> (8 * i));
}

/* Smallest encoding, as msgpack-c's pack_template.h chooses it. */
static int pack_uint(Out *o, unsigned long long d)
{
	RESERVE(o, 9);
	if (d < 0x80) {
		put1(o, (unsigned char)d);
	} else if (d < 0x100) {
		put1(o, 0xcc);
		put_be(o, d, 1);
	} else if (d < 0x10000) {
		put1(o, 0xcd);
		put_be(o, d, 2);
	} else if (d < 0x100000000ULL) {
		put1(o, 0xce);
		put_be(o, d, 4);
	} else {
		put1(o, 0xcf);
		put_be(o, d, 8);
	}
	return 0;
}

static int pack_negative(Out *o, long long d)
{
	RESERVE(o, 9);
	if (d >= -32) {
		put1(o, (unsigned char)(d & 0xff));
	} else if (d >= -128) {
		put1(o, 0xd0);
		put_be(o, (unsigned long long)d, 1);
	} else if (d >= -32768) {
		put1(o, 0xd1);
		put_be(o, (unsigned long long)d, 2);
	} else if (d >= -2147483648LL) {
		put1(o, 0xd2);
		put_be(o, (unsigned long long)d, 4);
	} else {
		put1(o, 0xd3);
		put_be(o, (unsigned long long)d, 8);
	}
	return 0;
}

static int pack_int(Out *o, PyObject *v)
{
	int overflow = 0;
	long long d = PyLong_AsLongLongAndOverflow(v, &overflow);

	if (d == -1 && PyErr_Occurred())
		return -1;
	if (overflow > 0) {
		unsigned long long u = PyLong_AsUnsignedLongLong(v);

		if (u == (unsigned long long)-1 && PyErr_Occurred())
			return -1;
		return pack_uint(o, u);
	}
	if (overflow < 0) {
		PyErr_SetString(PyExc_OverflowError, "int too small to pack");
		return -1;
	}
	return d >= 0 ? pack_uint(o, (unsigned long long)d) : pack_negative(o, d);
}

static int pack_head(Out *o, Py_ssize_t n, unsigned char fix, unsigned char fixmax,
		     unsigned char b16, unsigned char b32)
{
	RESERVE(o, 5);
	if (n < fixmax) {
		put1(o, fix | (unsigned char)n);
	} else if (n < 0x10000) {
		put1(o, b16);
		put_be(o, (unsigned long long)n, 2);
	} else if ((unsigned long long)n <= 0xffffffffULL) {
		put1(o, b32);
		put_be(o, (unsigned long long)n, 4);
	} else {
		PyErr_SetString(PyExc_ValueError, "container too large to pack");
		return -1;
	}
	return 0;
}

/*
 * A str or bin: its header, the smallest that fits (fixstr under 32 bytes
 * for a str; bin has none), then the bytes.
 */
static int pack_raw(Out *o, const char *s, Py_ssize_t n, int is_str)
{
	static const unsigned char str_codes[3] = {0xd9, 0xda, 0xdb};
	static const unsigned char bin_codes[3] = {0xc4, 0xc5, 0xc6};
	const unsigned char *codes = is_str ? str_codes : bin_codes;

	RESERVE(o, n + 5);
	if (is_str && n < 32) {
		put1(o, 0xa0 | (unsigned char)n);
	} else if (n < 0x100) {
		put1(o, codes[0]);
		put_be(o, (unsigned long long)n, 1);
	} else if (n < 0x10000) {
		put1(o, codes[1]);
		put_be(o, (unsigned long long)n, 2);
	} else if ((unsigned long long)n <= 0xffffffffULL) {
		put1(o, codes[2]);
		put_be(o, (unsigned long long)n, 4);
	} else {
		PyErr_SetString(PyExc_ValueError, is_str ? "str too large to pack"
							 : "bytes too large to pack");
		return -1;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	return 0;
}

static int pack_str(Out *o, PyObject *v)
{
	Py_ssize_t n;
	const char *s = PyUnicode_AsUTF8AndSize(v, &n);

	return s ? pack_raw(o, s, n, 1) : -1;
}

static int pack_obj(Out *o, PyObject *v, int depth);

static int pack_dict(Out *o, PyObject *d, int depth)
{
	Py_ssize_t pos = 0;
	PyObject *k, *v;

	if (pack_head(o, PyDict_GET_SIZE(d), 0x80, 16, 0xde, 0xdf) < 0)
		return -1;
	while (PyDict_Next(d, &pos, &k, &v)) {
		if (pack_obj(o, k, depth) < 0 || pack_obj(o, v, depth) < 0)
			return -1;
	}
	return 0;
}

static int pack_seq(Out *o, PyObject *seq, int depth)
{
	Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
	PyObject **items = PySequence_Fast_ITEMS(seq);

	if (pack_head(o, n, 0x90, 16, 0xdc, 0xdd) < 0)
		return -1;
	for (Py_ssize_t i = 0; i < n; i++) {
		if (pack_obj(o, items[i], depth) < 0)
			return -1;
	}
	return 0;
}

/* A model (or anything the hook turns into a dict): pack that dict. */
static int pack_other(Out *o, PyObject *v, int depth)
{
	PyObject *fields;
	int known = PySet_Contains(model_types, (PyObject *)Py_TYPE(v));
	int ret;

	if (known < 0)
		return -1;
	if (known)
		fields = PyObject_GetAttr(v, dict_name);
	else
		fields = PyObject_CallOneArg(hook, v); /* raises TypeError, or learns the type */
	if (!fields)
		return -1;
	if (!PyDict_Check(fields)) {
		PyErr_Format(PyExc_TypeError, "cannot serialize %.100s", Py_TYPE(v)->tp_name);
		ret = -1;
	} else {
		ret = pack_dict(o, fields, depth);
	}
	Py_DECREF(fields);
	return ret;
}

static int pack_obj(Out *o, PyObject *v, int depth)
{
	if (++depth > MAX_DEPTH) {
		PyErr_SetString(PyExc_ValueError, "nested too deep to pack");
		return -1;
	}
	if (PyUnicode_CheckExact(v))
		return pack_str(o, v);
	if (v == Py_None) {
		RESERVE(o, 1);
		put1(o, 0xc0);
		return 0;
	}
	if (PyBool_Check(v)) {
		RESERVE(o, 1);
		put1(o, v == Py_True ? 0xc3 : 0xc2);
		return 0;
	}
	if (PyLong_Check(v))
		return pack_int(o, v);
	if (PyDict_CheckExact(v))
		return pack_dict(o, v, depth);
	if (PyList_CheckExact(v) || PyTuple_CheckExact(v))
		return pack_seq(o, v, depth);
	if (PyUnicode_Check(v))
		return pack_str(o, v);
	if (PyFloat_Check(v)) {
		double d = PyFloat_AS_DOUBLE(v);
		unsigned long long bits;

		memcpy(&bits, &d, sizeof(bits));
		RESERVE(o, 9);
		put1(o, 0xcb);
		put_be(o, bits, 8);
		return 0;
	}
	if (PyBytes_Check(v))
		return pack_raw(o, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v), 0);
	if (PyDict_Check(v))
		return pack_dict(o, v, depth);
	if (PyList_Check(v) || PyTuple_Check(v))
		return pack_seq(o, v, depth);
	return pack_other(o, v, depth);
}

/*
 * One output buffer, kept between calls (the GIL serialises them): an event
 * is packed into it and copied out once, with no allocation in between.
 * A buffer grown past 1 MiB by a rare large value is given back.
 */
static Out scratch;

static PyObject *fastpack_pack(PyObject *self, PyObject *v)
{
	PyObject *res = NULL;

	(void)self;
	if (!model_types) {
		PyErr_SetString(PyExc_RuntimeError, "_fastpack.configure() was not called");
		return NULL;
	}
	scratch.len = 0;
	if (pack_obj(&scratch, v, 0) == 0)
		res = PyBytes_FromStringAndSize(scratch.buf, scratch.len);
	if (scratch.cap > (1 << 20)) {
		PyMem_Free(scratch.buf);
		scratch.buf = NULL;
		scratch.cap = 0;
	}
	return res;
}

static PyObject *fastpack_configure(PyObject *self, PyObject *args)
{
	PyObject *types, *fn;

	(void)self;
	if (!PyArg_ParseTuple(args, "O!O:configure", &PySet_Type, &types, &fn))
		return NULL;
	if (!PyCallable_Check(fn)) {
		PyErr_SetString(PyExc_TypeError, "the hook must be callable");
		return NULL;
	}
	Py_INCREF(types);
	Py_XSETREF(model_types, types);
	Py_INCREF(fn);
	Py_XSETREF(hook, fn);
	Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
	{"pack", fastpack_pack, METH_O,
	 "pack(obj) -> bytes: msgpack of an event, nested models as maps of their fields"},
	{"configure", fastpack_configure, METH_VARARGS,
	 "configure(model_types, hook): the set of known model types, and the hook for others"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_fastpack",
	"msgpack of the sensor's events, in C (see _fastpack.c)", -1, methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastpack(void)
{
	dict_name = PyUnicode_InternFromString("__dict__");
	if (!dict_name)
		return NULL;
	return PyModule_Create(&module);
}
