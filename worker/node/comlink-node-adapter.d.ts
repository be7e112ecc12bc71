// comlink ships its Node adapter as dist/esm/node-adapter.mjs with the types beside it under
// the .d.ts name; this maps the one onto the other.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  export { default } from 'comlink/dist/esm/node-adapter';
}
