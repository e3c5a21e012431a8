// Hand-declared slice of the CPython 3.x C API (no crates, no libpython link):
// the PyModule_* symbols stay undefined and resolve when the interpreter imports the module.
use core::ffi::{c_char, c_int, c_long, c_void};
use core::ptr;

#[repr(C)]
pub struct PyModuleDefBase {
    ob_refcnt: isize,
    ob_type: *mut c_void,
    m_init: *mut c_void,
    m_index: isize,
    m_copy: *mut c_void,
}

pub type PyCFunction = unsafe extern "C" fn(*mut c_void, *mut c_void) -> *mut c_void;

#[repr(C)]
pub struct PyMethodDef {
    ml_name: *const c_char,
    ml_meth: Option<PyCFunction>,
    ml_flags: c_int,
    ml_doc: *const c_char,
}

#[repr(C)]
pub struct PyModuleDef {
    m_base: PyModuleDefBase,
    m_name: *const c_char,
    m_doc: *const c_char,
    m_size: isize,
    m_methods: *mut PyMethodDef,
    m_slots: *mut c_void,
    m_traverse: *mut c_void,
    m_clear: *mut c_void,
    m_free: *mut c_void,
}

pub const METH_O: c_int = 0x0008;
pub const PYTHON_API_VERSION: c_int = 1013;

extern "C" {
    pub fn PyModule_Create2(def: *mut PyModuleDef, api: c_int) -> *mut c_void;
    pub fn PyLong_AsLong(obj: *mut c_void) -> c_long;
    pub fn PyLong_FromLong(v: c_long) -> *mut c_void;
}

pub const fn method(name: &'static [u8], meth: PyCFunction) -> PyMethodDef {
    PyMethodDef { ml_name: name.as_ptr().cast(), ml_meth: Some(meth), ml_flags: METH_O, ml_doc: ptr::null() }
}

pub const SENTINEL: PyMethodDef =
    PyMethodDef { ml_name: ptr::null(), ml_meth: None, ml_flags: 0, ml_doc: ptr::null() };

pub const fn module(name: &'static [u8], methods: *mut PyMethodDef) -> PyModuleDef {
    PyModuleDef {
        m_base: PyModuleDefBase {
            ob_refcnt: 1,
            ob_type: ptr::null_mut(),
            m_init: ptr::null_mut(),
            m_index: 0,
            m_copy: ptr::null_mut(),
        },
        m_name: name.as_ptr().cast(),
        m_doc: ptr::null(),
        m_size: -1,
        m_methods: methods,
        m_slots: ptr::null_mut(),
        m_traverse: ptr::null_mut(),
        m_clear: ptr::null_mut(),
        m_free: ptr::null_mut(),
    }
}
