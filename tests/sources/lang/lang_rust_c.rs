//! Rust extension module `lang_rust_c` that calls two GCC-compiled C functions (csum.c).
#![allow(non_snake_case, dead_code)]
include!("pyffi.rs");

extern "C" {
    fn c_adler32(data: *const u8, len: usize) -> u32;
    fn c_parse_kv(text: *const c_char, key: *mut c_char, key_size: usize) -> c_int;
}

unsafe extern "C" fn adler(_module: *mut c_void, arg: *mut c_void) -> *mut c_void {
    let n = PyLong_AsLong(arg).clamp(0, 4096) as usize;
    let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let mut key = [0 as c_char; 16];
    let parsed = c_parse_kv(b"key=value\0".as_ptr().cast(), key.as_mut_ptr(), key.len());
    PyLong_FromLong(c_adler32(data.as_ptr(), data.len()) as c_long + parsed as c_long)
}

static mut METHODS: [PyMethodDef; 2] = [method(b"adler\0", adler), SENTINEL];
static mut MODULE: PyModuleDef = module(b"lang_rust_c\0", ptr::null_mut());

#[no_mangle]
pub unsafe extern "C" fn PyInit_lang_rust_c() -> *mut c_void {
    let def = ptr::addr_of_mut!(MODULE);
    (*def).m_methods = ptr::addr_of_mut!(METHODS).cast();
    PyModule_Create2(def, PYTHON_API_VERSION)
}
