//! Pure Rust extension module `lang_rust`: `lang_rust.collatz(n)` -> steps to reach 1.
#![allow(non_snake_case, dead_code)]
include!("pyffi.rs");

fn collatz_steps(mut n: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    while n > 1 {
        seen.push(n);
        n = if n % 2 == 0 { n / 2 } else { n.checked_mul(3).and_then(|m| m.checked_add(1)).expect("overflow") };
    }
    seen
}

unsafe extern "C" fn collatz(_module: *mut c_void, arg: *mut c_void) -> *mut c_void {
    let n = PyLong_AsLong(arg);
    let steps = collatz_steps(n.max(1) as u64);
    PyLong_FromLong(steps.len() as c_long)
}

static mut METHODS: [PyMethodDef; 2] = [method(b"collatz\0", collatz), SENTINEL];
static mut MODULE: PyModuleDef = module(b"lang_rust\0", ptr::null_mut());

#[no_mangle]
pub unsafe extern "C" fn PyInit_lang_rust() -> *mut c_void {
    let def = ptr::addr_of_mut!(MODULE);
    (*def).m_methods = ptr::addr_of_mut!(METHODS).cast();
    PyModule_Create2(def, PYTHON_API_VERSION)
}
