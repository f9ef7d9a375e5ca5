;; A stateless guest whose gf_state_save claims 4 GiB - 16 bytes at address
;; 16: the host checks the range against memory before copying anything.
(module
  (import "goldfish" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "gf_alloc") (param i32) (result i32) (i32.const 16))
  (func (export "gf_handle") (param i32 i32) (result i32)
    (call $reply (local.get 0) (local.get 1))
    (i32.const 0))
  (func (export "gf_state_save") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 0xFFFFFFF0)))
  (func (export "gf_state_load") (param i32 i32) (result i32) (i32.const 0)))
