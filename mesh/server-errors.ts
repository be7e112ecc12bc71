/**
 * What a peer tells its user when the signaling server refuses the join: the server's error
 * code turned into a sentence that says what to do about it.
 */

/**
 * The detail of the 'failed' phase for a fatal server error.
 * @example describeServerError('room-full', 'room lab is full') // 'room lab is full. Try another room ...'
 */
export function describeServerError(code: string, message: string): string {
  switch (code) {
    case 'bad-token':
    case 'token-required':
      return `the server refused the join token: ${message}. Ask the room's operator for a valid token.`;
    case 'room-full':
      return `${message}. Try another room or wait for a peer to leave.`;
    case 'config-invalid':
      return `the room settings were refused: ${message}`;
    default:
      return message;
  }
}
