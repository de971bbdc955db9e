-- Roles (seeded here: every database of the application has them), users, and an audit trail
-- of the users table written by a trigger.

CREATE TABLE roles (
    id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE
);

INSERT INTO roles (name) VALUES ('admin'), ('member'), ('guest');

CREATE TABLE users (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email   text NOT NULL UNIQUE,
    role_id integer NOT NULL REFERENCES roles (id)
);

-- No foreign key to users: the trail outlives the rows it tells about.
CREATE TABLE audit (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action  text NOT NULL,
    user_id bigint NOT NULL,
    email   text NOT NULL
);

CREATE FUNCTION audit_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO audit (action, user_id, email) VALUES ('delete', OLD.id, OLD.email);
        RETURN OLD;
    END IF;
    INSERT INTO audit (action, user_id, email) VALUES (lower(TG_OP), NEW.id, NEW.email);
    RETURN NEW;
END
$$;

CREATE TRIGGER users_audit
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION audit_users();
