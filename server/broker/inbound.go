package broker

import (
	"errors"

	"github.com/pushlab/pushlab/internal/wire"
)

// dispatch verifies received messages and hands the good ones to the Handler, one at a time and
// in arrival order. It runs apart from the I/O loop so a slow session-key lookup or Handler
// never delays ZAP answers or outbound messages.
func (b *Broker) dispatch() {
	defer b.wg.Done()
	// seen mirrors ids for this goroutine, which is the only writer of ids.
	seen := map[nodeKey]string{}
	for {
		select {
		case <-b.done:
			return
		case batch := <-b.inbound:
			for _, frames := range batch {
				b.process(frames, seen)
			}
		}
	}
}

// process checks one message the way the real server does (protocol.md §4.3–4.5): exactly
// three frames; a parsable header; a body within the size limit that decodes as a node message;
// a session key for its (org, node); a valid hmac_sha256 signature; a timestamp within MaxSkew;
// one of the eight node types. Anything else is dropped, counted and logged at Debug.
func (b *Broker) process(frames [][]byte, seen map[nodeKey]string) {
	if len(frames) != 3 {
		b.drop(dropFrames, nil, "frames", len(frames))
		return
	}
	identity, headerFrame, body := frames[0], frames[1], frames[2]
	header, err := wire.ParseHeader(headerFrame)
	if err != nil {
		b.drop(dropHeader, nil, "err", err)
		return
	}
	msg, err := wire.DecodeNode(body, b.cfg.MaxBodySize)
	unknownType := errors.Is(err, wire.ErrUnknownType)
	switch {
	case unknownType:
	case errors.Is(err, wire.ErrBodyTooLarge):
		b.drop(dropTooBig, nil, "err", err)
		return
	case err != nil:
		b.drop(dropJSON, nil, "err", err)
		return
	}
	key, ok := b.keys.SessionKey(msg.Org, msg.Node)
	if !ok {
		b.drop(dropNoKey, msg, "reason", "no session key: config never fetched")
		return
	}
	if !wire.VerifyHMAC(key, header, body) {
		b.drop(dropSignature, msg, "version", header.Version, "method", header.Method)
		return
	}
	if err := wire.CheckSkew(msg.Timestamp, b.now(), b.cfg.MaxSkew); err != nil {
		b.drop(dropSkew, msg, "err", err)
		return
	}
	if unknownType {
		b.drop(dropUnknownType, msg, "type", msg.Type)
		return
	}

	k := nodeKey{msg.Org, msg.Node}
	prev, known := seen[k]
	newIdentity := known && prev != string(identity)
	if !known || newIdentity {
		id := string(identity)
		seen[k] = id
		b.idmu.Lock()
		b.ids[k] = id
		b.idmu.Unlock()
	}
	b.stats.received[nodeTypeIndex[msg.Type]].Add(1)
	b.handler.HandleNode(Inbound{Org: msg.Org, Node: msg.Node, NewIdentity: newIdentity, Msg: msg})
}

func (b *Broker) drop(reason int, msg *wire.NodeMessage, args ...any) {
	b.stats.dropped[reason].Add(1)
	if msg != nil {
		args = append(args, "org", msg.Org, "node", msg.Node, "type", msg.Type)
	}
	b.log.Debug("dropped node message", append([]any{"reason", string(dropReasons[reason])}, args...)...)
}
