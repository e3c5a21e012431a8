// Go extension module lang_go (cgo, -buildmode=c-shared). The module definition lives in C
// memory (cgo pointer rules); PyModule_Create2 stays undefined and resolves at import time.
package main

/*
#include <stddef.h>

typedef struct {
	void *head[5];
	const char *name;
	const char *doc;
	ptrdiff_t size;
	void *methods, *slots, *traverse, *clear, *free;
} memsafe_moduledef;

extern void *PyModule_Create2(void *def, int api);

static memsafe_moduledef lang_go_def = {{(void *)1}, "lang_go", NULL, -1};

static void *memsafe_create(void) { return PyModule_Create2(&lang_go_def, 1013); }
*/
import "C"

import (
	"strings"
	"unsafe"
)

var words = strings.Fields("go extension module built with cgo")

//export lang_go_words
func lang_go_words() C.int { return C.int(len(words)) }

//export PyInit_lang_go
func PyInit_lang_go() unsafe.Pointer { return C.memsafe_create() }

func main() {}
