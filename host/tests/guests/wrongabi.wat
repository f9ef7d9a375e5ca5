;; Imports a function the host does not provide.
(module
  (import "env" "abort" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "gf_alloc") (param i32) (result i32) (i32.const 16))
  (func (export "gf_handle") (param i32 i32) (result i32) (i32.const 0)))
