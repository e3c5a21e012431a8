/* Non-PIC code: an absolute 64-bit address of a preemptible global in .text, so the
 * linker must emit a dynamic relocation against .text (DT_TEXTREL with -z notext). */
	.data
	.globl	textrel_target
textrel_target:
	.quad	42

	.text
	.globl	textrel_load
	.type	textrel_load, @function
textrel_load:
	movabsq	$textrel_target, %rax
	movq	(%rax), %rax
	ret
	.size	textrel_load, .-textrel_load

	.section	.note.GNU-stack,"",@progbits
