;;; eglot_driver.el --- a real Eglot against `localroute serve'  -*- lexical-binding: t -*-

;; Run by tests/e2e/test_eglot.py as `emacs --batch -l eglot_driver.el' (not -Q: Debian's
;; site start-up puts elpa-eglot on the load path).  It does what a user does, through
;; Eglot's own commands: opens a Python file, starts Eglot with the set-up documented in
;; docs/editors/emacs.md (the user-setup block, copied there verbatim), picks "Review file"
;; and "Explain file" as `M-x eglot-code-actions' offers them, waits for Flymake and the
;; echo area, asks ElDoc's hover function, and answers the server's consent question in
;; Eglot's minibuffer prompt.  What it saw is written as JSON to $LR_OUT; the test asserts
;; on that.
;;
;; Environment: LR_FILE (the file to open), LR_OUT (the JSON written), LR_EVENTS (Eglot's
;; JSON-RPC log, written for a failing test to print), LR_SCENARIO (see `lr-run'; "later"
;; and "consent" use the documented set-up as it is), LR_WAIT_S (how long to wait for a
;; result).  `localroute' must be on PATH.

(require 'eglot)
(require 'lisp-mnt)
(require 'flymake)
(require 'json)
(require 'cl-lib)

;; <user-setup>
(with-eval-after-load 'eglot
  (add-to-list 'eglot-server-programs
               '((python-mode python-ts-mode)
                 . ("localroute" "serve"
                    :initializationOptions (:deliverResultsLater t)))))
;; </user-setup>

(defvar lr-scenario (or (getenv "LR_SCENARIO") "later"))
(defvar lr-wait-s (string-to-number (or (getenv "LR_WAIT_S") "60")))
(defvar lr-observed nil "Alist of what was seen, written as JSON at the end.")
(defvar lr-started (float-time))

(pcase lr-scenario
  ;; The plain entry: the server tells Eglot apart by itself.
  ("default" (push '((python-mode python-ts-mode) . ("localroute" "serve"))
                   eglot-server-programs))
  ;; The failure mode: the server answers a command only when the model has.
  ("sync"
   (push '((python-mode python-ts-mode)
           . ("localroute" "serve" :initializationOptions (:deliverResultsLater :json-false)))
         eglot-server-programs)))

(defun lr-note (key value)
  (setq lr-observed (cons (cons key value) (assq-delete-all key lr-observed)))
  (message "eglot-driver: %s = %S" key value))

(defun lr-elapsed (since)
  (/ (round (* 1000 (- (float-time) since))) 1000.0))

(defun lr-messages ()
  (with-current-buffer (messages-buffer) (buffer-string)))

(defun lr-wait (what predicate &optional seconds)
  "Run the event loop until PREDICATE is true; nil after SECONDS (default LR_WAIT_S)."
  (let ((deadline (+ (float-time) (or seconds lr-wait-s))))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (or (funcall predicate)
        (progn (message "eglot-driver: gave up waiting for %s" what) nil))))

(defun lr-localroute-diagnostics ()
  (cl-loop for d in (flymake-diagnostics)
           for text = (flymake-diagnostic-text d)
           when (string-prefix-p "localroute" text)
           collect `((text . ,text)
                     (line . ,(line-number-at-pos (flymake-diagnostic-beg d)))
                     (type . ,(symbol-name (flymake-diagnostic-type d))))))

(defvar lr-commands nil "Each `eglot-execute-command' call: what it returned or signalled.")

(define-advice eglot-execute-command (:around (fn server command arguments) lr-record)
  (let ((began (float-time)) (entry nil))
    (unwind-protect
        (condition-case err
            (let ((result (funcall fn server command arguments)))
              (setq entry `((result . ,(json-encode result))))
              result)
          (error
           (setq entry `((error . ,(error-message-string err))
                         (error_data . ,(json-encode
                                         (alist-get 'jsonrpc-error-data (cdr err))))))
           (signal (car err) (cdr err))))
      (push `((command . ,(format "%s" command))
              (seconds . ,(lr-elapsed began))
              ,@entry)
            lr-commands))))

(defun lr-code-action (title-prefix)
  "Do what `M-x eglot-code-actions' does when the user picks TITLE-PREFIX.
Returns the error message the command ended with, or nil."
  (let* ((actions (eglot-code-actions (point-min) (point-max)))
         (title (cl-loop for a in actions
                         for title = (plist-get a :title)
                         when (string-prefix-p title-prefix title) return title)))
    (unless title (error "no code action %S in %S" title-prefix
                         (mapcar (lambda (a) (plist-get a :title)) actions)))
    (cl-letf* ((ask (symbol-function 'completing-read))
               ((symbol-function 'completing-read)
                (lambda (prompt &rest args)
                  (if (string-prefix-p "[eglot] Pick an action" prompt)
                      title
                    (apply ask prompt args))))
               ;; a keyboard event: Eglot then asks with `completing-read', not a menu
               (last-nonmenu-event ?\r))
      (condition-case err
          (progn (call-interactively #'eglot-code-actions) nil)
        (error (error-message-string err))))))

(defun lr-hover-text ()
  "What ElDoc gets from Eglot's hover function at point, or nil."
  (let ((got :waiting))
    (eglot-hover-eldoc-function (lambda (text &rest _) (setq got text)))
    (lr-wait "hover" (lambda () (not (eq got :waiting))) 15)
    (and (stringp got) (substring-no-properties got))))

(defun lr-review ()
  "Pick \"Review file\" from the code actions; wait for the diagnostic and the message."
  (let ((began (float-time)))
    (lr-note 'review_error (lr-code-action "Review file"))
    (lr-note 'review_returned_after_s (lr-elapsed began))
    (lr-wait-for-review began)))

(defun lr-wait-for-review (began)
  (lr-note 'diagnostics_after_s
           (and (lr-wait "a localroute diagnostic" #'lr-localroute-diagnostics)
                (lr-elapsed began)))
  (lr-note 'diagnostics (vconcat (lr-localroute-diagnostics)))
  (lr-wait "the review's message" (lambda () (string-match-p "finding(s)" (lr-messages))) 5))

(defun lr-explain ()
  "Pick \"Explain file\"; wait for the message, then ask ElDoc's hover function."
  (let ((began (float-time)))
    (lr-note 'explain_error (lr-code-action "Explain file"))
    (lr-note 'explain_returned_after_s (lr-elapsed began))
    (lr-note 'explanation_message_after_s
             (and (lr-wait "the explanation's message"
                           (lambda () (string-match-p "explain file of" (lr-messages))))
                  (lr-elapsed began))))
  (goto-char (point-min))
  (forward-line 1)
  (lr-note 'hover (lr-hover-text)))

(defun lr-consent ()
  "Review a refused file twice with Eglot's own prompt for the server's consent question
\(`window/showMessageRequest'): the first time the user just presses RET, the second
time they pick \"Send to cloud anyway (this once)\"."
  (let ((answers (list nil "Send to cloud anyway (this once)"))
        (asked nil))
    (cl-letf (((symbol-function 'completing-read)
               (lambda (prompt collection &optional _pred _match initial _hist default &rest _)
                 ;; nil: the user presses RET, which accepts the minibuffer's initial
                 ;; input (Eglot puts the first action there), else DEFAULT
                 (let ((answer (or (pop answers)
                                   (and (stringp initial) (not (string-empty-p initial)) initial)
                                   (if (consp default) (car default) default)
                                   "")))
                   (push `((prompt . ,(substring-no-properties prompt))
                           (choices . ,(vconcat collection))
                           (initial_input . ,initial)
                           (answer . ,answer))
                         asked)
                   answer))))
      (lr-note 'first_review_error (lr-code-action "Review file"))
      (lr-wait "the first consent question" (lambda () (= (length asked) 1)) 30)
      (lr-note 'second_review_error (lr-code-action "Review file"))
      (lr-wait "the second consent question" (lambda () (= (length asked) 2)) 30)
      (lr-wait "a localroute diagnostic" #'lr-localroute-diagnostics 30)
      (lr-wait "the review's message" (lambda () (string-match-p "finding(s)" (lr-messages))) 5))
    (lr-note 'consent_questions (vconcat (reverse asked)))
    (lr-note 'diagnostics (vconcat (lr-localroute-diagnostics)))))

(defun lr-run ()
  (find-file (getenv "LR_FILE"))
  (lr-note 'emacs_version emacs-version)
  (lr-note 'eglot_version
           (let ((source (locate-library "eglot.el")))
             (if source
                 (with-temp-buffer (insert-file-contents source) (lm-header "Version"))
               "unknown")))
  (lr-note 'major_mode (symbol-name major-mode))
  (call-interactively #'eglot)
  (unless (lr-wait "Eglot to manage the buffer"
                   (lambda () (and (eglot-current-server) eglot--managed-mode)) 30)
    (error "Eglot did not start the server"))
  (let ((server (eglot-current-server)))
    (lr-note 'server_name (or (plist-get (eglot--server-info server) :name) ""))
    (lr-note 'project_root (project-root (eglot--project server)))
    (lr-note 'commands (plist-get (plist-get (eglot--capabilities server)
                                             :executeCommandProvider)
                                  :commands)))
  (lr-note 'action_titles
           (vconcat (mapcar (lambda (a) (plist-get a :title))
                            (eglot-code-actions (point-min) (point-max)))))
  (pcase lr-scenario
    ("later" (lr-review) (lr-explain))
    ("consent" (lr-consent))
    (_ (lr-review))))

(let ((status "ok"))
  (condition-case err
      (lr-run)
    (error (setq status (error-message-string err))))
  (lr-note 'status status)
  (lr-note 'command_calls (vconcat (reverse lr-commands)))
  (lr-note 'messages (lr-messages))
  (lr-note 'total_s (lr-elapsed lr-started))
  (with-temp-file (getenv "LR_OUT")
    (insert (json-encode lr-observed)))
  (let ((server (ignore-errors (eglot-current-server))))
    (when server
      (ignore-errors (eglot-shutdown server nil nil 'preserve-buffers))
      (when (getenv "LR_EVENTS")
        (with-current-buffer (jsonrpc-events-buffer server)
          (write-region nil nil (getenv "LR_EVENTS") nil 'silent))))))

;;; eglot_driver.el ends here
