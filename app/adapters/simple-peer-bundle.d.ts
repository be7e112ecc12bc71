/**
 * simple-peer's prebuilt browser bundle ships without typings (@types/simple-peer covers the
 * package's main entry only). Declared as unknown: the one user casts it to the slice it uses.
 */
declare module 'simple-peer/simplepeer.min.js' {
  const SimplePeer: unknown;
  export default SimplePeer;
}
