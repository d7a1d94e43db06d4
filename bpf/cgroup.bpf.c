/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cgroup births and deaths in the v2 (default) hierarchy, as auxiliary
 * records, so that user space can map the cgroup id on every event to a
 * cgroup path, and the path to a container, even for a container that ran
 * one command and whose cgroup is gone before anyone could look it up.
 *
 * Loaded by the sensor when container enrichment is on (the internal area
 * "cgroup"); sensor/ringside/_containers reads the records.
 *
 * Only the default hierarchy (root 0) is sent: bpf_get_current_cgroup_id()
 * names a cgroup there, and v1 hierarchies have ids of their own that no
 * event carries.
 *
 * Full tier: the record carries the path, read from the tracepoint's
 * __data_loc field.  Reduced tier: reading the path needs
 * bpf_probe_read_kernel(), so the record carries id, level and op only, and
 * user space resolves the id through cgroupfs at once (open_by_handle_at).
 */

static __always_inline int cgroup__send(u32 op, s32 root, s32 level, u64 id, const void *path)
{
	struct rs_aux_cgroup *ev;
	u32 end = sizeof(*ev);

	if (root != 0)
		return 0;
	ev = event__start(RS_EVENT_AUX_CGROUP);
	if (!ev)
		return 0;
	ev->id = id;
	ev->root = root;
	ev->level = level;
	ev->op = op;
	ev->pad = 0;
	ev->vl.count = 0;
	ev->vl.size = 0;
#ifndef RS_REDUCED
	vl__add_kernel_str(ev, &ev->vl, &end, RS_VL_PATH, path, RS_PATH_MAX);
#endif
	event__emit(ev, end);
	return 0;
}

/* bcc exposes a __data_loc field as an int: the offset is in the low 16 bits. */
#define CGROUP__PATH(args) ((const void *)(args) + ((args)->data_loc_path & 0xFFFF))

TRACEPOINT_PROBE(cgroup, cgroup_mkdir)
{
	return cgroup__send(RS_CGROUP_OP_MKDIR, args->root, args->level, args->id,
			    CGROUP__PATH(args));
}

TRACEPOINT_PROBE(cgroup, cgroup_rmdir)
{
	return cgroup__send(RS_CGROUP_OP_RMDIR, args->root, args->level, args->id,
			    CGROUP__PATH(args));
}
