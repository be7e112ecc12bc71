/**
 * The form shown at `/` without a room: room and name, submitted as the join URL's query
 * (a plain GET form, so the URL it lands on is the one to share with other tabs).
 */

import { ROOM_PATTERN } from './params';

export function JoinForm(props: { readonly name: string }) {
  return (
    <form method="get" action="/" data-testid="join-form">
      <p>Open the same room in a few tabs (or on a few machines) to train one model together.</p>
      <label>
        Room{' '}
        <input
          name="room"
          required
          pattern={ROOM_PATTERN.source.slice(1, -1)}
          maxLength={64}
          placeholder="e.g. lab-1"
          title="1 to 64 letters, digits, _ or -"
        />
      </label>
      <label>
        Name <input name="name" required maxLength={64} value={props.name} />
      </label>
      <button type="submit">Join</button>
    </form>
  );
}
