/** Branded identifiers, so a peer id cannot be passed where a room name is expected. */

export type PeerId = string & { readonly __brand: 'PeerId' };
export type RoomName = string & { readonly __brand: 'RoomName' };

/** Marks a string that has already been validated (by a schema or the server) as a peer id. */
export const asPeerId = (id: string): PeerId => id as PeerId;
export const asRoomName = (name: string): RoomName => name as RoomName;

/** Total order on peer ids used wherever the design says "ties: lowest id". */
export const comparePeerIds = (a: PeerId, b: PeerId): number => (a < b ? -1 : a > b ? 1 : 0);
