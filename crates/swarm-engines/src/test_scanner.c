/*
 * The test scanner of swarm's wine engine tests and `swarm bench wine`:
 * built for Windows with MinGW-w64 (run under Wine) and natively with gcc
 * (run as a command engine), from this one source.
 *
 * scanner FILE:
 *   - FILE holds the EICAR string: prints a JSON verdict line, exits 0;
 *   - FILE holds MALICIOUS-BY-EXIT: exits 1 (malicious, no JSON);
 *   - FILE holds HANG: sleeps forever (the engine's timeout must kill it);
 *   - otherwise exits 0 (benign); an unreadable FILE exits 2 (an error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#define pause_a_second() Sleep(1000)
#else
#include <unistd.h>
#define pause_a_second() sleep(1)
#endif

static int contains(const char *data, size_t size, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= size; i++) {
        if (memcmp(data + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: scanner FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 2;
    }
    size_t cap = 1 << 16, size = 0;
    char *data = malloc(cap);
    for (;;) {
        if (data == NULL) {
            fprintf(stderr, "out of memory\n");
            return 2;
        }
        size_t got = fread(data + size, 1, cap - size, f);
        size += got;
        if (got == 0) {
            break;
        }
        if (size == cap) {
            cap *= 2;
            data = realloc(data, cap);
        }
    }
    fclose(f);
    if (contains(data, size, "HANG")) {
        for (;;) {
            pause_a_second();
        }
    }
    if (contains(data, size, "EICAR-STANDARD-ANTIVIRUS-TEST-FILE")) {
        printf("{\"verdict\":\"malicious\",\"confidence\":1.0,"
               "\"metadata\":{\"malware_family\":\"EICAR\"}}\n");
        return 0;
    }
    if (contains(data, size, "MALICIOUS-BY-EXIT")) {
        return 1;
    }
    return 0;
}
