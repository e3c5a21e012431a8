/* The whole object is assembly and has no .note.GNU-stack section. When no input
 * carries the note and neither -z execstack nor -z noexecstack is given, GNU ld
 * emits no PT_GNU_STACK at all (ld 2.40 on x86-64 ignores -z nognustack). */
#include "pyinit.h"
	.text
	.globl	PYINIT
	.type	PYINIT, @function
PYINIT:
	xorl	%eax, %eax
	ret
	.size	PYINIT, .-PYINIT
