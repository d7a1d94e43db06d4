/*
 * File and process events decoded in C: ringside._fastdecode.
 *
 * decode(buf, off, hdr, ctx) returns the event that the Python decoder of
 * the record's type (ringside_schema.file.decode_file, process.decode_fork,
 * decode_exec, decode_exit) returns, field for field, for the records storms
 * are made of: absolute paths, nothing cut at its cap.  Any other record (a
 * relative path, a truncated field, a path to tidy, a mknod, a malformed
 * tail) is handed to the Python decoder, which decodes it or raises the
 * error it names.  The Python decoders stay the reference: a test decodes
 * random records both ways and compares.
 *
 * Everything the decoder must agree with Python on comes from Python, at
 * configure(): struct offsets, event and field numbers, syscall names, the
 * model classes, the process block decoder (it keeps its own cache) and the
 * entity ids (the context's).  Models are built as ringside_schema's build()
 * does, without validation: object.__new__, then __dict__ and pydantic's
 * three slots set directly.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define VL_MAX 32

/* Set by configure(). */
static PyObject *fallbacks;      /* etype -> the Python decoder */
static PyObject *build_process_block; /* build_process_block(raw, ctx) -> dict */
static long process_cache_max, process_size;
static PyObject *event_models;   /* etype -> (name, model class) */
static PyObject *syscalls;       /* op -> name */
static PyObject *dir_ops, *symlink_ops, *mknod_ops, *open_ops; /* sets of ops */
static PyObject *mode_types;     /* S_IFMT bits -> file type name */
static PyObject *type_of_fmt[16]; /* mode_types by S_IFMT >> 12; NULL: none */
static long unlinkat_op, at_removedir;
static PyObject *process_cls, *fileinfo_cls, *sensor_cls;
static PyObject *fields_sets;    /* class -> the shared set of its field names */
static long proc_off, fixed_off, vl_off, vl_hdr_size, vl_field_size, vl_type_max;
static long vl_path, vl_path_new, vl_link_target, vl_f_truncated;
static long ev_create, ev_rename, ev_link, ev_chmod, ev_chown;
/* process events */
static PyObject *forkchild_cls;
static long ev_fork, ev_exec, ev_exit, hdr_f_reduced;
static long fork_fixed_off, fork_vl_off, exec_vl_off, exit_fixed_off, exit_vl_off;
static long vl_argv, vl_exe, vl_filename, vl_cwd, vl_tty_name;
static int configured;

/* Interned names. */
static PyObject *s_event, *s_timestamp, *s_ktime_ns, *s_host, *s_sensor, *s_process,
	*s_container, *s_truncated, *s_file, *s_instance, *s_tier, *s_cpu, *s_seq, *s_path,
	*s_old_path, *s_target, *s_type, *s_mode, *s_uid, *s_gid, *s_flags, *s_syscall,
	*s_result, *s_pid, *s_dict, *s_fields_set, *s_extra, *s_private, *s_clock,
	*s_offset_ns, *s_directory, *s_symlink, *s_file_type, *s_child, *s_entity_id,
	*s_start_ns, *s_filename, *s_args, *s_executable, *s_cwd, *s_tty, *s_exit_code,
	*s_exit_signal, *s_core_dumped, *s_duration_ns, *s_process_cache;
static PyObject *empty_tuple;

/* The seconds of the last timestamp, formatted (as Clock.rfc3339 keeps it). */
static long long last_sec = INT64_MIN;
static char last_prefix[64];

/* Not ours to decode: decode_file decides (and raises what it raises). */
#define DECLINE 1

static PyObject *build(PyObject *cls, PyObject *values)
{
	PyObject *fields_set = PyDict_GetItemWithError(fields_sets, cls);
	PyObject *obj;

	if (!fields_set) {
		if (!PyErr_Occurred())
			PyErr_Format(PyExc_RuntimeError, "no field set for %R", cls);
		return NULL;
	}
	obj = PyBaseObject_Type.tp_new((PyTypeObject *)cls, empty_tuple, NULL);
	if (!obj)
		return NULL;
	if (PyObject_GenericSetAttr(obj, s_dict, values) < 0 ||
	    PyObject_GenericSetAttr(obj, s_fields_set, fields_set) < 0 ||
	    PyObject_GenericSetAttr(obj, s_extra, Py_None) < 0 ||
	    PyObject_GenericSetAttr(obj, s_private, Py_None) < 0) {
		Py_DECREF(obj);
		return NULL;
	}
	return obj;
}

static uint32_t rd32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t rd16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

struct vl_field {
	const unsigned char *data;
	uint32_t size;
	uint16_t flags;
	int present;
};

/* The tail as wire.parse_varlen reads it; DECLINE where that would raise. */
static int parse_varlen(const unsigned char *buf, long off, long end, struct vl_field *f)
{
	uint32_t count, total;

	if (off + vl_hdr_size > end)
		return DECLINE;
	count = rd32(buf + off);
	total = rd32(buf + off + 4);
	off += vl_hdr_size;
	if (off + (long)total != end)
		return DECLINE;
	for (uint32_t i = 0; i < count; i++) {
		uint16_t vtype, vflags;
		uint32_t vsize;

		if (off + vl_field_size > end)
			return DECLINE;
		vtype = rd16(buf + off);
		vflags = rd16(buf + off + 2);
		vsize = rd32(buf + off + 4);
		off += vl_field_size;
		if (off + (long)vsize > end)
			return DECLINE;
		if (vtype == 0 || vtype > vl_type_max || vtype >= VL_MAX)
			return DECLINE;
		f[vtype].data = buf + off;
		f[vtype].size = vsize;
		f[vtype].flags = vflags;
		f[vtype].present = 1;
		off += vsize;
	}
	return off == end ? 0 : DECLINE;
}

/* wire.text: UTF-8, with undecodable bytes as backslash escapes. */
static PyObject *text(const struct vl_field *f)
{
	return PyUnicode_DecodeUTF8((const char *)f->data, f->size, "backslashreplace");
}

/*
 * An absolute path that needs no tidying, as the event gives it; DECLINE for
 * any other (file._resolve and normalize have the rules), Py_None when absent.
 */
static int path_of(const struct vl_field *f, PyObject **out)
{
	const unsigned char *p = f->data;
	uint32_t n = f->size;

	if (!f->present) {
		Py_INCREF(Py_None);
		*out = Py_None;
		return 0;
	}
	if (f->flags & vl_f_truncated)
		return DECLINE;
	if (n == 0 || p[0] != '/')
		return DECLINE;
	if (n > 1 && p[n - 1] == '/')
		return DECLINE;
	for (uint32_t i = 0; i + 1 < n; i++) {
		if (p[i] == '/' && (p[i + 1] == '.' || p[i + 1] == '/'))
			return DECLINE;
	}
	*out = text(f);
	return *out ? 0 : -1;
}

/* Clock.rfc3339: "%Y-%m-%dT%H:%M:%S.%09dZ" of the wall-clock time of a kernel stamp. */
static PyObject *rfc3339(PyObject *ctx, PyObject *ts)
{
	PyObject *clock = PyObject_GetAttr(ctx, s_clock);
	PyObject *offset, *wall;
	long long w, sec, ns;
	int overflow;

	if (!clock)
		return NULL;
	offset = PyObject_GetAttr(clock, s_offset_ns);
	Py_DECREF(clock);
	if (!offset)
		return NULL;
	wall = PyNumber_Add(ts, offset);
	Py_DECREF(offset);
	if (!wall)
		return NULL;
	w = PyLong_AsLongLongAndOverflow(wall, &overflow);
	Py_DECREF(wall);
	if (w == -1 && PyErr_Occurred())
		return NULL;
	if (overflow)
		return Py_NewRef(Py_NotImplemented); /* beyond 2262: Python formats it */
	sec = w / 1000000000;
	ns = w % 1000000000;
	if (ns < 0) { /* divmod floors */
		ns += 1000000000;
		sec -= 1;
	}
	if (sec != last_sec) {
		time_t t = (time_t)sec;
		struct tm tm;

		if (!gmtime_r(&t, &tm) ||
		    !strftime(last_prefix, sizeof(last_prefix), "%Y-%m-%dT%H:%M:%S", &tm))
			return Py_NewRef(Py_NotImplemented);
		last_sec = sec;
	}
	{
		char out[96];
		int n = snprintf(out, sizeof(out), "%s.%09lldZ", last_prefix, ns);

		return PyUnicode_DecodeASCII(out, n, NULL);
	}
}

static int dict_set(PyObject *d, PyObject *k, PyObject *v)
{
	int r;

	if (!v)
		return -1;
	r = PyDict_SetItem(d, k, v);
	Py_DECREF(v);
	return r;
}

/* file._file_type, for an op already looked up in dir_ops, symlink_ops and open_ops
 * (mknod is declined before this). */
static PyObject *file_type(int is_dir, int is_symlink, int is_open, long op, uint32_t mode,
			   uint32_t oflags, long etype)
{
	if (is_dir || (op == unlinkat_op && (oflags & at_removedir)))
		return Py_NewRef(s_directory);
	if (is_symlink)
		return Py_NewRef(s_symlink);
	if (is_open && (mode & 0170000)) {  /* the opened file's type, from its inode */
		PyObject *type = type_of_fmt[(mode & 0170000) >> 12];

		return Py_NewRef(type ? type : Py_None);
	}
	if (etype == ev_create)
		return Py_NewRef(s_file_type);
	return Py_NewRef(Py_None);
}

static PyObject *optional_u32(int cond, uint32_t v)
{
	return cond ? PyLong_FromUnsignedLong(v) : Py_NewRef(Py_None);
}

/*
 * The fields every event has (event_values in process.py), in their order,
 * with process None for now.  NULL with an error set, or Py_NotImplemented
 * to decline.
 */
static PyObject *base_values(PyObject *name, PyObject *hdr, PyObject *ctx)
{
	PyObject *sensor_v, *ts, *values;

	ts = rfc3339(ctx, PyTuple_GET_ITEM(hdr, 0));
	if (!ts || ts == Py_NotImplemented)
		return ts;
	sensor_v = PyDict_New();
	if (!sensor_v ||
	    dict_set(sensor_v, s_instance, PyObject_GetAttr(ctx, s_instance)) < 0 ||
	    dict_set(sensor_v, s_tier, PyObject_GetAttr(ctx, s_tier)) < 0 ||
	    PyDict_SetItem(sensor_v, s_cpu, PyTuple_GET_ITEM(hdr, 4)) < 0 ||
	    PyDict_SetItem(sensor_v, s_seq, PyTuple_GET_ITEM(hdr, 1)) < 0) {
		Py_XDECREF(sensor_v);
		Py_DECREF(ts);
		return NULL;
	}
	values = PyDict_New();
	if (!values ||
	    PyDict_SetItem(values, s_event, name) < 0 ||
	    dict_set(values, s_timestamp, ts) < 0 ||
	    PyDict_SetItem(values, s_ktime_ns, PyTuple_GET_ITEM(hdr, 0)) < 0 ||
	    dict_set(values, s_host, PyObject_GetAttr(ctx, s_host)) < 0 ||
	    dict_set(values, s_sensor, build(sensor_cls, sensor_v)) < 0 ||
	    PyDict_SetItem(values, s_process, Py_None) < 0 ||
	    PyDict_SetItem(values, s_container, Py_None) < 0 ||
	    PyDict_SetItem(values, s_truncated, Py_None) < 0) {
		Py_XDECREF(values);
		values = NULL;
	}
	Py_DECREF(sensor_v);
	return values;
}

/*
 * The process block of the record at off, as a fresh dict: process_block in
 * process.py, cache and all.  The block's bytes are the key into
 * ctx.process_cache; a block not there is built by build_process_block
 * (in Python: one place says what a block means).  decode_view checked that
 * the block lies within the record.
 */
static PyObject *process_of(const unsigned char *buf, long off, PyObject *ctx)
{
	PyObject *cache, *key, *cached, *proc = NULL;

	cache = PyObject_GetAttr(ctx, s_process_cache);
	if (!cache)
		return NULL;
	if (!PyDict_CheckExact(cache)) {
		PyErr_SetString(PyExc_TypeError, "ctx.process_cache is not a dict");
		Py_DECREF(cache);
		return NULL;
	}
	key = PyBytes_FromStringAndSize((const char *)buf + off + proc_off, process_size);
	if (!key)
		goto out;
	cached = PyDict_GetItemWithError(cache, key); /* borrowed */
	if (cached) {
		proc = PyDict_Copy(cached);
		goto out;
	}
	if (PyErr_Occurred())
		goto out;
	if (PyDict_GET_SIZE(cache) >= process_cache_max)
		PyDict_Clear(cache);
	cached = PyObject_CallFunctionObjArgs(build_process_block, key, ctx, NULL);
	if (!cached)
		goto out;
	if (!PyDict_CheckExact(cached))
		PyErr_SetString(PyExc_TypeError, "build_process_block did not return a dict");
	else if (PyDict_SetItem(cache, key, cached) == 0)
		proc = PyDict_Copy(cached);
	Py_DECREF(cached);
out:
	Py_XDECREF(key);
	Py_DECREF(cache);
	return proc;
}

/* base_values with the process built in: NULL, Py_NotImplemented, or the dict. */
static PyObject *event_values(PyObject *name, PyObject *hdr, PyObject *ctx, PyObject *proc)
{
	PyObject *values = base_values(name, hdr, ctx);

	if (!values || values == Py_NotImplemented)
		return values;
	if (dict_set(values, s_process, build(process_cls, proc)) < 0) {
		Py_DECREF(values);
		return NULL;
	}
	return values;
}

/* What to return for the values: the built event, or NULL / Py_NotImplemented as they came. */
static PyObject *finish(PyObject *model, PyObject *values)
{
	PyObject *res;

	if (!values || values == Py_NotImplemented)
		return values;
	res = build(model, values);
	Py_DECREF(values);
	return res;
}

static PyObject *decode_file(const unsigned char *buf, long off, long size, long etype,
			     PyObject *name, PyObject *model, PyObject *hdr, PyObject *ctx)
{
	struct vl_field f[VL_MAX];
	PyObject *syscall, *op_o;
	PyObject *path = NULL, *second = NULL, *first = NULL, *target = NULL;
	PyObject *proc = NULL, *values = NULL, *file_v = NULL, *res = NULL;
	long op;
	uint32_t mode, uid, gid, oflags;
	int32_t ret;
	const unsigned char *fixed;
	int rc, is_mknod, is_dir, is_symlink, is_open;

	if (size < vl_off)
		return Py_NewRef(Py_NotImplemented);
	fixed = buf + off + fixed_off;
	op = rd32(fixed);
	mode = rd32(fixed + 4);
	uid = rd32(fixed + 8);
	gid = rd32(fixed + 12);
	oflags = rd32(fixed + 16);
	memcpy(&ret, fixed + 20, 4);
	/* The op's name and kind, looked up once. */
	op_o = PyLong_FromLong(op);
	if (!op_o)
		return NULL;
	syscall = PyDict_GetItemWithError(syscalls, op_o);
	is_mknod = is_dir = is_symlink = is_open = 0;
	if (syscall) {
		is_mknod = PySet_Contains(mknod_ops, op_o);
		is_dir = PySet_Contains(dir_ops, op_o);
		is_symlink = PySet_Contains(symlink_ops, op_o);
		is_open = PySet_Contains(open_ops, op_o);
	}
	Py_DECREF(op_o);
	if (is_mknod < 0 || is_dir < 0 || is_symlink < 0 || is_open < 0 ||
	    (!syscall && PyErr_Occurred()))
		return NULL;
	if (!syscall || is_mknod)
		return Py_NewRef(Py_NotImplemented);

	memset(f, 0, sizeof(f));
	if (parse_varlen(buf, off + vl_off, off + size, f))
		return Py_NewRef(Py_NotImplemented);
	rc = path_of(&f[vl_path], &first);
	if (rc == 0)
		rc = path_of(&f[vl_path_new], &second);
	if (rc)
		goto out; /* declined (1) or an error (-1) */
	path = Py_NewRef(first);
	if (etype == ev_rename) {
		Py_SETREF(path, Py_NewRef(second));
	} else if (etype == ev_link) {
		Py_SETREF(path, Py_NewRef(second));
		if (is_symlink) {
			if (f[vl_link_target].present) {
				if (f[vl_link_target].flags & vl_f_truncated) {
					rc = DECLINE;
					goto out;
				}
				target = text(&f[vl_link_target]);
				if (!target) {
					rc = -1;
					goto out;
				}
			}
		} else {
			target = Py_NewRef(first);
		}
	}
	if (!target)
		target = Py_NewRef(Py_None);

	/* Everything that can decline has been checked: build the event. */
	rc = -1;
	proc = process_of(buf, off, ctx);
	if (!proc)
		goto out;

	file_v = PyDict_New();
	if (!file_v)
		goto out;
	if (PyDict_SetItem(file_v, s_path, path) < 0 ||
	    PyDict_SetItem(file_v, s_old_path, etype == ev_rename ? first : Py_None) < 0 ||
	    PyDict_SetItem(file_v, s_target, target) < 0 ||
	    dict_set(file_v, s_type, file_type(is_dir, is_symlink, is_open, op, mode, oflags,
								 etype)) < 0 ||
	    dict_set(file_v, s_mode, optional_u32(etype == ev_chmod || etype == ev_create,
						  mode & 07777)) < 0 ||
	    dict_set(file_v, s_uid, optional_u32(etype == ev_chown && uid != 0xffffffffu, uid)) < 0 ||
	    dict_set(file_v, s_gid, optional_u32(etype == ev_chown && gid != 0xffffffffu, gid)) < 0 ||
	    dict_set(file_v, s_flags, optional_u32(oflags != 0, oflags)) < 0 ||
	    PyDict_SetItem(file_v, s_syscall, syscall) < 0 ||
	    dict_set(file_v, s_result, PyLong_FromLong(ret)) < 0)
		goto out;

	values = base_values(name, hdr, ctx);
	if (!values)
		goto out;
	if (values == Py_NotImplemented) {
		Py_CLEAR(values);
		rc = DECLINE;
		goto out;
	}
	if (dict_set(values, s_process, build(process_cls, proc)) < 0 ||
	    dict_set(values, s_file, build(fileinfo_cls, file_v)) < 0)
		goto out;
	res = build(model, values);
	rc = res ? 0 : -1;
out:
	Py_XDECREF(first);
	Py_XDECREF(second);
	Py_XDECREF(path);
	Py_XDECREF(target);
	Py_XDECREF(proc);
	Py_XDECREF(file_v);
	Py_XDECREF(values);
	if (rc == DECLINE)
		return Py_NewRef(Py_NotImplemented);
	return rc == 0 ? res : NULL;
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* The tail of a record whose fields are not used: only checked, as parse_varlen checks it. */
static int tail_ok(const unsigned char *buf, long off, long vl_at, long size)
{
	struct vl_field f[VL_MAX];

	memset(f, 0, sizeof(f));
	return size >= vl_at + vl_hdr_size && parse_varlen(buf, off + vl_at, off + size, f) == 0;
}

static PyObject *decode_fork(const unsigned char *buf, long off, long size,
			     PyObject *name, PyObject *model, PyObject *hdr, PyObject *ctx)
{
	uint64_t child_start;
	uint32_t child_pid;
	long flags;
	int known;
	PyObject *proc, *values, *child, *pid_o, *start_o, *eid;

	if (!tail_ok(buf, off, fork_vl_off, size))
		return Py_NewRef(Py_NotImplemented);
	child_start = rd64(buf + off + fork_fixed_off);
	child_pid = rd32(buf + off + fork_fixed_off + 8);
	flags = PyLong_AsLong(PyTuple_GET_ITEM(hdr, 6));
	if (flags == -1 && PyErr_Occurred())
		return NULL;
	known = (flags & hdr_f_reduced) == 0 || child_start != 0;
	proc = process_of(buf, off, ctx);
	if (!proc)
		return NULL;
	values = event_values(name, hdr, ctx, proc);
	Py_DECREF(proc);
	if (!values || values == Py_NotImplemented)
		return values;
	child = PyDict_New();
	pid_o = PyLong_FromUnsignedLong(child_pid);
	start_o = PyLong_FromUnsignedLongLong(child_start);
	eid = NULL;
	if (child && pid_o && start_o) {
		eid = known ? PyObject_CallMethod(ctx, "entity_id", "OO", pid_o, start_o)
			    : Py_NewRef(Py_None);
	}
	if (!eid ||
	    PyDict_SetItem(child, s_pid, pid_o) < 0 ||
	    dict_set(child, s_entity_id, eid) < 0 ||
	    PyDict_SetItem(child, s_start_ns, known ? start_o : Py_None) < 0 ||
	    dict_set(values, s_child, build(forkchild_cls, child)) < 0)
		Py_CLEAR(values);
	Py_XDECREF(child);
	Py_XDECREF(pid_o);
	Py_XDECREF(start_o);
	return finish(model, values);
}

static PyObject *decode_exit(const unsigned char *buf, long off, long size,
			     PyObject *name, PyObject *model, PyObject *hdr, PyObject *ctx)
{
	uint32_t status, sig;
	PyObject *proc, *values, *start, *ts, *duration = NULL;
	int ok;

	if (!tail_ok(buf, off, exit_vl_off, size))
		return Py_NewRef(Py_NotImplemented);
	status = rd32(buf + off + exit_fixed_off);
	proc = process_of(buf, off, ctx);
	if (!proc)
		return NULL;
	values = event_values(name, hdr, ctx, proc);
	if (!values || values == Py_NotImplemented) {
		Py_DECREF(proc);
		return values;
	}
	/* exit_status() and the lifetime, as process.decode_exit puts them. */
	sig = status & 0x7f;
	ts = PyTuple_GET_ITEM(hdr, 0);
	start = PyDict_GetItemWithError(proc, s_start_ns);
	if (start && start != Py_None) {
		int le = PyObject_RichCompareBool(start, ts, Py_LE);

		if (le < 0)
			duration = NULL;
		else
			duration = le ? PyNumber_Subtract(ts, start) : Py_NewRef(Py_None);
	} else if (!PyErr_Occurred()) {
		duration = Py_NewRef(Py_None);
	}
	if (status == 0xffffffffu)
		ok = PyDict_SetItem(values, s_exit_code, Py_None) == 0 &&
		     PyDict_SetItem(values, s_exit_signal, Py_None) == 0 &&
		     PyDict_SetItem(values, s_core_dumped, Py_False) == 0;
	else
		ok = dict_set(values, s_exit_code,
			      sig ? Py_NewRef(Py_None) : PyLong_FromUnsignedLong((status >> 8) & 0xff)) == 0 &&
		     dict_set(values, s_exit_signal,
			      sig ? PyLong_FromUnsignedLong(sig) : Py_NewRef(Py_None)) == 0 &&
		     PyDict_SetItem(values, s_core_dumped, status & 0x80 ? Py_True : Py_False) == 0;
	ok = ok && duration && dict_set(values, s_duration_ns, duration) == 0;
	if (!ok)
		Py_CLEAR(values);
	Py_DECREF(proc);
	return finish(model, values);
}

/* process.tty_name: "pts3" -> "pts/3"; DECLINE where Python's isdigit() could differ. */
static int tty_name(const struct vl_field *f, PyObject **out)
{
	const unsigned char *p = f->data;
	uint32_t n = f->size, i;
	int digits = n > 3 && p[0] == 'p' && p[1] == 't' && p[2] == 's';

	for (i = 3; digits && i < n; i++) {
		if (p[i] >= 0x80)
			return DECLINE;
		if (p[i] < '0' || p[i] > '9')
			digits = 0;
	}
	if (!digits) {
		for (i = 0; i < n; i++) {
			if (p[i] >= 0x80)
				return DECLINE;
		}
		*out = text(f);
	} else {
		char name[64];

		if (n + 1 > sizeof(name))
			return DECLINE;
		memcpy(name, "pts/", 4);
		memcpy(name + 4, p + 3, n - 3);
		*out = PyUnicode_DecodeASCII(name, n + 1, NULL);
	}
	return *out ? 0 : -1;
}

/*
 * process.split_argv: NUL-separated, a final NUL ending the last argument.
 * memchr finds the separators: an exec storm with 10,000-byte arguments spent
 * 9 us an event walking them a byte at a time.
 */
static PyObject *split_argv(const struct vl_field *f)
{
	const char *p = (const char *)f->data, *end = p + f->size, *nul;
	PyObject *args = PyList_New(0), *arg;

	if (!args)
		return NULL;
	if (p < end && end[-1] == 0)
		end--;
	for (;;) {
		nul = memchr(p, 0, end - p);
		arg = PyUnicode_DecodeUTF8(p, (nul ? nul : end) - p, "backslashreplace");
		if (!arg || PyList_Append(args, arg) < 0) {
			Py_XDECREF(arg);
			Py_DECREF(args);
			return NULL;
		}
		Py_DECREF(arg);
		if (!nul)
			return args;
		p = nul + 1;
	}
}

static PyObject *decode_exec(const unsigned char *buf, long off, long size,
			     PyObject *name, PyObject *model, PyObject *hdr, PyObject *ctx)
{
	struct vl_field f[VL_MAX];
	long text_fields[3] = {vl_exe, vl_cwd, vl_filename};
	PyObject *proc, *values, *tty = NULL;
	int ok;

	if (size < exec_vl_off + vl_hdr_size)
		return Py_NewRef(Py_NotImplemented);
	memset(f, 0, sizeof(f));
	if (parse_varlen(buf, off + exec_vl_off, off + size, f))
		return Py_NewRef(Py_NotImplemented);
	/* A field cut at its cap is noted in the event: the Python decoder does that. */
	if ((f[vl_argv].present && f[vl_argv].flags & vl_f_truncated))
		return Py_NewRef(Py_NotImplemented);
	for (int i = 0; i < 3; i++) {
		if (f[text_fields[i]].present && f[text_fields[i]].flags & vl_f_truncated)
			return Py_NewRef(Py_NotImplemented);
	}
	if (f[vl_tty_name].present) {
		int rc = tty_name(&f[vl_tty_name], &tty);

		if (rc)
			return rc < 0 ? NULL : Py_NewRef(Py_NotImplemented);
	}
	proc = process_of(buf, off, ctx);
	if (!proc) {
		Py_XDECREF(tty);
		return NULL;
	}
	ok = (!f[vl_argv].present || dict_set(proc, s_args, split_argv(&f[vl_argv])) == 0) &&
	     (!f[vl_exe].present || dict_set(proc, s_executable, text(&f[vl_exe])) == 0) &&
	     (!f[vl_cwd].present || dict_set(proc, s_cwd, text(&f[vl_cwd])) == 0) &&
	     (!tty || PyDict_SetItem(proc, s_tty, tty) == 0);
	Py_XDECREF(tty);
	values = ok ? base_values(name, hdr, ctx) : NULL;
	if (!values || values == Py_NotImplemented) {
		Py_DECREF(proc);
		return values;
	}
	ok = dict_set(values, s_filename, f[vl_filename].present ? text(&f[vl_filename])
							      : Py_NewRef(Py_None)) == 0 &&
	     dict_set(values, s_process, build(process_cls, proc)) == 0;
	Py_DECREF(proc);
	if (!ok)
		Py_CLEAR(values);
	return finish(model, values);
}

/* The event, NULL with an error set, or Py_NotImplemented to decline. */
static PyObject *decode_view(const unsigned char *buf, Py_ssize_t buflen, long off,
			     PyObject *hdr, PyObject *ctx)
{
	PyObject *etype_o, *entry, *name, *model;
	long etype, size;

	if (!PyTuple_Check(hdr) || PyTuple_GET_SIZE(hdr) < 7)
		return Py_NewRef(Py_NotImplemented);
	etype_o = PyTuple_GET_ITEM(hdr, 3);
	etype = PyLong_AsLong(etype_o);
	size = PyLong_AsLong(PyTuple_GET_ITEM(hdr, 2));
	if ((etype == -1 || size == -1) && PyErr_Occurred())
		return NULL;
	if (off < 0 || size < proc_off + process_size || off + size > buflen)
		return Py_NewRef(Py_NotImplemented);
	entry = PyDict_GetItemWithError(event_models, etype_o);
	if (!entry || !PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2)
		return PyErr_Occurred() ? NULL : Py_NewRef(Py_NotImplemented);
	name = PyTuple_GET_ITEM(entry, 0);
	model = PyTuple_GET_ITEM(entry, 1);
	if (etype == ev_exec)
		return decode_exec(buf, off, size, name, model, hdr, ctx);
	if (etype == ev_fork)
		return decode_fork(buf, off, size, name, model, hdr, ctx);
	if (etype == ev_exit)
		return decode_exit(buf, off, size, name, model, hdr, ctx);
	return decode_file(buf, off, size, etype, name, model, hdr, ctx);
}

static PyObject *fastdecode_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	Py_buffer view;
	PyObject *res, *fn;
	long off;

	(void)self;
	if (nargs != 4) {
		PyErr_SetString(PyExc_TypeError, "decode(buf, off, hdr, ctx)");
		return NULL;
	}
	if (!configured) {
		PyErr_SetString(PyExc_RuntimeError, "_fastdecode.configure() was not called");
		return NULL;
	}
	off = PyLong_AsLong(args[1]);
	if (off == -1 && PyErr_Occurred())
		return NULL;
	if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
		return NULL;
	res = decode_view(view.buf, view.len, off, args[2], args[3]);
	PyBuffer_Release(&view);
	if (res != Py_NotImplemented)
		return res;
	Py_DECREF(res);
	/* The Python decoder of the record's type decides (a type we have none for: any). */
	fn = PyTuple_Check(args[2]) && PyTuple_GET_SIZE(args[2]) > 3
		? PyDict_GetItemWithError(fallbacks, PyTuple_GET_ITEM(args[2], 3)) : NULL;
	if (!fn) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_KeyError, "no decoder for this record's type");
		return NULL;
	}
	return PyObject_Vectorcall(fn, args, 4, NULL);
}

/* conf[key], borrowed; NULL with KeyError naming it when it is missing. */
static PyObject *conf_item(PyObject *conf, const char *key)
{
	PyObject *v = PyDict_GetItemString(conf, key);

	if (!v)
		PyErr_Format(PyExc_KeyError, "configure: %s missing", key);
	return v;
}

#define GET_OBJ(var, key) \
	do { \
		PyObject *v_ = conf_item(conf, key); \
		if (!v_) \
			return NULL; \
		Py_XSETREF(var, Py_NewRef(v_)); \
	} while (0)

#define GET_LONG(var, key) \
	do { \
		PyObject *v_ = conf_item(conf, key); \
		if (!v_) \
			return NULL; \
		var = PyLong_AsLong(v_); \
		if (var == -1 && PyErr_Occurred()) \
			return NULL; \
	} while (0)

static PyObject *fastdecode_configure(PyObject *self, PyObject *conf)
{
	(void)self;
	if (!PyDict_Check(conf)) {
		PyErr_SetString(PyExc_TypeError, "configure(dict)");
		return NULL;
	}
	GET_OBJ(fallbacks, "fallbacks");
	GET_OBJ(forkchild_cls, "ForkChild");
	GET_LONG(ev_fork, "ev_fork");
	GET_LONG(ev_exec, "ev_exec");
	GET_LONG(ev_exit, "ev_exit");
	GET_LONG(hdr_f_reduced, "hdr_f_reduced");
	GET_LONG(fork_fixed_off, "fork_fixed_off");
	GET_LONG(fork_vl_off, "fork_vl_off");
	GET_LONG(exec_vl_off, "exec_vl_off");
	GET_LONG(exit_fixed_off, "exit_fixed_off");
	GET_LONG(exit_vl_off, "exit_vl_off");
	GET_LONG(vl_argv, "vl_argv");
	GET_LONG(vl_exe, "vl_exe");
	GET_LONG(vl_filename, "vl_filename");
	GET_LONG(vl_cwd, "vl_cwd");
	GET_LONG(vl_tty_name, "vl_tty_name");
	GET_OBJ(build_process_block, "build_process_block");
	GET_LONG(process_cache_max, "process_cache_max");
	GET_LONG(process_size, "process_size");
	GET_OBJ(event_models, "event_models");
	GET_OBJ(syscalls, "syscalls");
	GET_OBJ(dir_ops, "dir_ops");
	GET_OBJ(symlink_ops, "symlink_ops");
	GET_OBJ(mknod_ops, "mknod_ops");
	GET_OBJ(open_ops, "open_ops");
	GET_OBJ(mode_types, "mode_types");
	GET_OBJ(process_cls, "Process");
	GET_OBJ(fileinfo_cls, "FileInfo");
	GET_OBJ(sensor_cls, "Sensor");
	GET_OBJ(fields_sets, "fields_sets");
	GET_LONG(unlinkat_op, "unlinkat_op");
	GET_LONG(at_removedir, "at_removedir");
	GET_LONG(proc_off, "proc_off");
	GET_LONG(fixed_off, "fixed_off");
	GET_LONG(vl_off, "vl_off");
	GET_LONG(vl_hdr_size, "vl_hdr_size");
	GET_LONG(vl_field_size, "vl_field_size");
	GET_LONG(vl_type_max, "vl_type_max");
	GET_LONG(vl_path, "vl_path");
	GET_LONG(vl_path_new, "vl_path_new");
	GET_LONG(vl_link_target, "vl_link_target");
	GET_LONG(vl_f_truncated, "vl_f_truncated");
	GET_LONG(ev_create, "ev_create");
	GET_LONG(ev_rename, "ev_rename");
	GET_LONG(ev_link, "ev_link");
	GET_LONG(ev_chmod, "ev_chmod");
	GET_LONG(ev_chown, "ev_chown");
	if (!PyDict_Check(event_models) || !PyDict_Check(syscalls) || !PyDict_Check(fields_sets) ||
	    !PyDict_Check(fallbacks) ||
	    !PyAnySet_Check(dir_ops) || !PyAnySet_Check(symlink_ops) || !PyAnySet_Check(mknod_ops) ||
	    !PyAnySet_Check(open_ops) || !PyDict_Check(mode_types)) {
		PyErr_SetString(PyExc_TypeError, "configure: wrong type of table");
		return NULL;
	}
	for (int i = 0; i < 16; i++) {
		PyObject *key = PyLong_FromLong((long)i << 12), *name;

		if (!key)
			return NULL;
		name = PyDict_GetItemWithError(mode_types, key);
		Py_DECREF(key);
		if (!name && PyErr_Occurred())
			return NULL;
		if (name && !PyUnicode_Check(name)) {
			PyErr_SetString(PyExc_TypeError, "configure: mode_types names are strings");
			return NULL;
		}
		Py_XSETREF(type_of_fmt[i], Py_XNewRef(name));
	}
	if (vl_type_max >= VL_MAX || vl_path <= 0 || vl_path > vl_type_max ||
	    vl_path_new <= 0 || vl_path_new > vl_type_max || vl_link_target <= 0 ||
	    vl_link_target > vl_type_max || fixed_off + 24 > vl_off || vl_hdr_size != 8 ||
	    vl_field_size != 8 || process_size != 80 || process_cache_max < 1 ||
	    proc_off + process_size > fixed_off || fork_fixed_off + 12 > fork_vl_off ||
	    exit_fixed_off + 4 > exit_vl_off || proc_off + process_size > exec_vl_off ||
	    vl_argv <= 0 || vl_argv > vl_type_max || vl_exe <= 0 || vl_exe > vl_type_max ||
	    vl_filename <= 0 || vl_filename > vl_type_max || vl_cwd <= 0 ||
	    vl_cwd > vl_type_max || vl_tty_name <= 0 || vl_tty_name > vl_type_max) {
		PyErr_SetString(PyExc_ValueError, "configure: a layout this decoder does not know");
		return NULL;
	}
	configured = 1;
	Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
	{"decode", (PyCFunction)(void (*)(void))fastdecode_decode, METH_FASTCALL,
	 "decode(buf, off, hdr, ctx): a file or process event, as the Python decoders make it"},
	{"configure", fastdecode_configure, METH_O,
	 "configure(dict): the layout, tables and classes the decoder agrees with Python on"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_fastdecode", "file and process events decoded in C (see _fastdecode.c)", -1,
	methods, NULL, NULL, NULL, NULL,
};

#define INTERN(var, s) \
	do { \
		if (!((var) = PyUnicode_InternFromString(s))) \
			return NULL; \
	} while (0)

PyMODINIT_FUNC PyInit__fastdecode(void)
{
	INTERN(s_event, "event");
	INTERN(s_timestamp, "timestamp");
	INTERN(s_ktime_ns, "ktime_ns");
	INTERN(s_host, "host");
	INTERN(s_sensor, "sensor");
	INTERN(s_process, "process");
	INTERN(s_container, "container");
	INTERN(s_truncated, "truncated");
	INTERN(s_file, "file");
	INTERN(s_instance, "instance");
	INTERN(s_tier, "tier");
	INTERN(s_cpu, "cpu");
	INTERN(s_seq, "seq");
	INTERN(s_path, "path");
	INTERN(s_old_path, "old_path");
	INTERN(s_target, "target");
	INTERN(s_type, "type");
	INTERN(s_mode, "mode");
	INTERN(s_uid, "uid");
	INTERN(s_gid, "gid");
	INTERN(s_flags, "flags");
	INTERN(s_syscall, "syscall");
	INTERN(s_result, "result");
	INTERN(s_pid, "pid");
	INTERN(s_dict, "__dict__");
	INTERN(s_fields_set, "__pydantic_fields_set__");
	INTERN(s_extra, "__pydantic_extra__");
	INTERN(s_private, "__pydantic_private__");
	INTERN(s_clock, "clock");
	INTERN(s_offset_ns, "offset_ns");
	INTERN(s_directory, "directory");
	INTERN(s_symlink, "symlink");
	INTERN(s_file_type, "file");
	INTERN(s_child, "child");
	INTERN(s_entity_id, "entity_id");
	INTERN(s_start_ns, "start_ns");
	INTERN(s_filename, "filename");
	INTERN(s_args, "args");
	INTERN(s_executable, "executable");
	INTERN(s_cwd, "cwd");
	INTERN(s_tty, "tty");
	INTERN(s_exit_code, "exit_code");
	INTERN(s_exit_signal, "exit_signal");
	INTERN(s_core_dumped, "core_dumped");
	INTERN(s_duration_ns, "duration_ns");
	INTERN(s_process_cache, "process_cache");
	empty_tuple = PyTuple_New(0);
	if (!empty_tuple)
		return NULL;
	return PyModule_Create(&module);
}
