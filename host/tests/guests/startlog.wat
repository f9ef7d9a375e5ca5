;; Logs from its start function, before the host holds the instance, then
;; replies with the count of messages it has seen.
(module
  (import "goldfish" "log" (func $log (param i32 i32 i32)))
  (import "goldfish" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "started")
  (global $n (mut i32) (i32.const 48))
  (func $start (call $log (i32.const 2) (i32.const 0) (i32.const 7)))
  (start $start)
  (func (export "gf_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "gf_handle") (param i32 i32) (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store8 (i32.const 16) (global.get $n))
    (call $reply (i32.const 16) (i32.const 1))
    (i32.const 0)))
