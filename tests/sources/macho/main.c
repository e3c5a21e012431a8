/* Entry point for the MH_EXECUTE sample of the Mach-O corpus (linked with -e _main). */
int main(void)
{
    return 0;
}
