# Hand-written helper WITHOUT a .note.GNU-stack section: ld treats the object as
# needing an executable stack (ld 2.40 warns and emits PT_GNU_STACK RWE).
	.text
	.globl	nonote_answer
	.type	nonote_answer, @function
nonote_answer:
	movl	$42, %eax
	ret
	.size	nonote_answer, .-nonote_answer
