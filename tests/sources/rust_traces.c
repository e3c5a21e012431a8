/* The read-only strings rustc leaves in every Rust binary (panic locations in std, crate
 * source paths, std's unwrap messages), planted in a C module so that the PE and Mach-O
 * checks can be shown what they do with them. Built without a stack protector. */
extern void *memcpy(void *, const void *, unsigned long);

const char *const rust_traces[] = {
    "/rustc/1159e78c4747b02ef996e55082b704c09b970588\\library\\core\\src\\iter\\adapters\\enumerate.rs",
    "called `Option::unwrap()` on a `None` value",
};

unsigned long copy_size = 64; /* not a constant: the copies stay memcpy calls */

__attribute__((visibility("default"))) void *PyInit_rust_traces(void)
{
    static char out[64];
    char buf[64];
    memcpy(buf, rust_traces[0], copy_size);
    memcpy(out, buf, copy_size);
    return out;
}
