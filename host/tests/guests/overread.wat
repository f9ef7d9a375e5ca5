;; Asks for its id into a buffer that runs past the end of its memory. The id
;; is short and would fit, but the whole range is checked: it traps.
(module
  (import "goldfish" "self_id" (func $self_id (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "gf_alloc") (param i32) (result i32) (i32.const 16))
  (func (export "gf_handle") (param i32 i32) (result i32)
    (drop (call $self_id (i32.const 65000) (i32.const 4096)))
    (i32.const 0)))
