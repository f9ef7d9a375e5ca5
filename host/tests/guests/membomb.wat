;; Grows its memory until refused, then traps (as a Rust allocator would).
(module
  (memory (export "memory") 1)
  (func (export "gf_alloc") (param i32) (result i32) (i32.const 16))
  (func (export "gf_handle") (param i32 i32) (result i32)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable))
