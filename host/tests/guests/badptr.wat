;; Hands the host a reply pointer far outside its memory.
(module
  (import "goldfish" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "gf_alloc") (param i32) (result i32) (i32.const 16))
  (func (export "gf_handle") (param i32 i32) (result i32)
    (call $reply (i32.const -16) (i32.const 64))
    (i32.const 0)))
