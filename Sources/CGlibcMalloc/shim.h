// glibc's allocator tuning (mallopt), which the Swift Glibc module does not import. Used by the executable only
// (Sources/aura-media/MemoryPolicy.swift).
#if __has_include(<malloc.h>)
#include <malloc.h>
#endif
