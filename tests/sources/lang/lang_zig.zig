//! Zig extension module lang_zig: a hand-declared PyModuleDef (no libc, no libpython link);
//! PyModule_Create2 and PyLong_* stay undefined and resolve at import time.
const std = @import("std");

// The default panic handler pulls in std.debug (stack traces, DWARF reader) and triples the
// ReleaseSafe compile time; safety checks stay on, failures just print less.
pub const panic = std.debug.simple_panic;

const PyObject = opaque {};
const PyCFunction = *const fn (?*PyObject, ?*PyObject) callconv(.c) ?*PyObject;

const PyMethodDef = extern struct {
    ml_name: ?[*:0]const u8,
    ml_meth: ?PyCFunction,
    ml_flags: c_int,
    ml_doc: ?[*:0]const u8,
};

const PyModuleDef = extern struct {
    ob_refcnt: isize = 1,
    ob_type: ?*anyopaque = null,
    m_init: ?*anyopaque = null,
    m_index: isize = 0,
    m_copy: ?*anyopaque = null,
    m_name: [*:0]const u8,
    m_doc: ?[*:0]const u8 = null,
    m_size: isize = -1,
    m_methods: ?[*]PyMethodDef,
    m_slots: ?*anyopaque = null,
    m_traverse: ?*anyopaque = null,
    m_clear: ?*anyopaque = null,
    m_free: ?*anyopaque = null,
};

extern fn PyModule_Create2(def: *PyModuleDef, api: c_int) ?*PyObject;
extern fn PyLong_AsLong(obj: ?*PyObject) c_long;
extern fn PyLong_FromLong(v: c_long) ?*PyObject;

fn popcount(_: ?*PyObject, arg: ?*PyObject) callconv(.c) ?*PyObject {
    const v: u64 = @bitCast(@as(i64, PyLong_AsLong(arg)));
    var digits: [20]u8 = undefined;
    const text = std.fmt.bufPrint(&digits, "{d}", .{v}) catch unreachable;
    return PyLong_FromLong(@as(c_long, @popCount(v)) + @as(c_long, @intCast(text.len)));
}

var methods = [_]PyMethodDef{
    .{ .ml_name = "popcount", .ml_meth = &popcount, .ml_flags = 0x0008, .ml_doc = null },
    .{ .ml_name = null, .ml_meth = null, .ml_flags = 0, .ml_doc = null },
};

var module = PyModuleDef{ .m_name = "lang_zig", .m_methods = &methods };

export fn PyInit_lang_zig() ?*PyObject {
    return PyModule_Create2(&module, 1013);
}
