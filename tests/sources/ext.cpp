// C++ extension: std::string/std::vector pull in libstdc++; C linkage for PyInit_*.
#include <cstring>
#include <string>
#include <vector>

#include "pyinit.h"

extern "C" int cxx_join(const char *part, int count, char *out, std::size_t out_size)
{
    std::vector<std::string> parts;
    for (int i = 0; i < count; ++i) {
        parts.emplace_back(part);
    }
    std::string joined;
    for (const auto &p : parts) {
        joined += p;
    }
    char buf[64];
    std::size_t n = joined.size() < sizeof buf ? joined.size() : sizeof buf - 1;
    std::memcpy(buf, joined.data(), n);
    buf[n] = '\0';
    std::strncpy(out, buf, out_size);
    return static_cast<int>(n);
}

extern "C" void *PYINIT(void)
{
    static int module_state;
    return &module_state;
}
