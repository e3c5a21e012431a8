/* Stand-in for a vendored third-party dylib (libssl.3.dylib, libfoo.dylib): the Mach-O
 * corpus links extensions against it only to get an LC_LOAD_DYLIB with its install name. */
int vendored_answer(void)
{
    return 42;
}
