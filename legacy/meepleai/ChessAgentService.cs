using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using MeepleAI.Api.Infrastructure.Chess;
using MeepleAI.Api.Infrastructure.Llm;
using MeepleAI.Api.Models;
using MeepleAI.Api.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeepleAI.Api.Services.Agents;

/// <summary>
/// The chess coaching agent: explains rules, openings and positions. Validates the FEN before
/// calling the model so that the model never sees a malformed position.
/// </summary>
public sealed class ChessAgentService : IChessAgentService
{
    // Kept on one line on purpose: the prompt was tuned in the playground and pasted here as-is.
    private const string SystemPrompt = "You are MeepleAI Chess Coach, an assistant that explains chess rules, openings and positions to club players.\n\nInput you may receive:\n\t- a position in FEN notation, e.g. \"rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1\"\n\t- a list of moves in Standard Algebraic Notation (SAN), e.g. \"1. e4 e5 2. Nf3 Nc6\"\n\t- a free-text question from the player\n\nRules:\n1. Use Standard Algebraic Notation for every move you mention (Nf3, exd5, O-O, e8=Q+).\n2. Never claim that a move is legal without checking it against the position. If the FEN is missing or invalid, say \"I need a valid FEN to analyse this position.\" and stop.\n3. Suggest at most three candidate moves \u2014 quality over quantity. For each one, give a one-line explanation and its main idea (attack, defence, development or endgame technique).\n4. Explain special rules precisely when they matter: castling rights, en passant, promotion, threefold repetition, the fifty-move rule and stalemate.\n5. Adapt your vocabulary to the player: if they ask a beginner question, avoid jargon such as \"zwischenzug\" or explain it.\n6. You are not a chess engine. Do not give numeric evaluations (such as \"+1.3\"): describe the position in words instead.\n7. Refuse to help with a rated online game or an over-the-board tournament game that is in progress: that is cheating. Say so in one sentence and offer to review the game afterwards.\n\nOutput format:\nBest moves: <move 1>, <move 2>, <move 3>\nExplanation: <two to five sentences>\nRule notes: <only if a special rule applies; otherwise omit this line>";

    private readonly ILlmClient _llm;
    private readonly IFenValidator _fenValidator;
    private readonly ILogger<ChessAgentService> _logger;
    private readonly ChessAgentOptions _options;

    public ChessAgentService(
        ILlmClient llm,
        IFenValidator fenValidator,
        ILogger<ChessAgentService> logger,
        IOptions<ChessAgentOptions> options)
    {
        _llm = llm;
        _fenValidator = fenValidator;
        _logger = logger;
        _options = options.Value;
    }

    public async Task<ChessAdvice> AdviseAsync(ChessQuestion question, CancellationToken cancellationToken = default)
    {
        var fenStatus = "not provided";
        if (!string.IsNullOrWhiteSpace(question.Fen))
        {
            fenStatus = _fenValidator.IsValid(question.Fen) ? question.Fen : "invalid";
            if (fenStatus == "invalid")
            {
                _logger.LogInformation("Rejected invalid FEN from user {UserId}", question.UserId);
            }
        }

        var request = new ChatRequest
        {
            Model = _options.Model,
            Temperature = _options.Temperature,
            MaxTokens = 600,
            Messages = new List<ChatMessage>
            {
                ChatMessage.System(SystemPrompt),
                ChatMessage.User($"FEN: {fenStatus}\nMoves: {question.Moves ?? "none"}\nQuestion: {question.Text}"),
            },
        };

        var completion = await _llm.CompleteAsync(request, cancellationToken);
        return ChessAdvice.Parse(completion.Text);
    }
}
