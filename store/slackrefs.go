package store

import "context"

// SlackMessage is a message the Slack front end posted about a request and
// edits in place as the request moves. It mirrors bot.MessageRef.
type SlackMessage struct {
	RequestID string
	Role      string
	UserID    string
	Person    string
	Channel   string
	TS        string
	Hash      string
}

const slackCols = `request_id, role, user_id, person, channel, ts, hash`

// PutSlackMessage records (or replaces) a message the bot posted.
func (db *DB) PutSlackMessage(ctx context.Context, m SlackMessage) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO slack_messages (`+slackCols+`) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT (request_id, role, channel) DO UPDATE SET user_id=excluded.user_id, person=excluded.person, ts=excluded.ts, hash=excluded.hash`,
		m.RequestID, m.Role, m.UserID, m.Person, m.Channel, m.TS, m.Hash)
	return err
}

// SlackMessages returns the messages posted about a request.
func (db *DB) SlackMessages(ctx context.Context, requestID string) ([]SlackMessage, error) {
	return db.slackMessages(ctx, `SELECT `+slackCols+` FROM slack_messages WHERE request_id=? ORDER BY role, channel`, requestID)
}

// SlackMessagesAt returns the refs that point at one posted message (the
// requests a page lists).
func (db *DB) SlackMessagesAt(ctx context.Context, channel, ts string) ([]SlackMessage, error) {
	return db.slackMessages(ctx, `SELECT `+slackCols+` FROM slack_messages WHERE channel=? AND ts=? ORDER BY rowid`, channel, ts)
}

func (db *DB) slackMessages(ctx context.Context, q string, args ...any) ([]SlackMessage, error) {
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SlackMessage
	for rows.Next() {
		var m SlackMessage
		if err := rows.Scan(&m.RequestID, &m.Role, &m.UserID, &m.Person, &m.Channel, &m.TS, &m.Hash); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
